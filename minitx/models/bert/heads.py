"""BERT's heads: masked LM and next-sentence prediction (pretraining), and the
fine-tuning heads for classification, token tagging and span question answering.
Names and outputs are transformers'."""
import numpy as np

from ... import nn
from ...nn import functional as F
from ...tensor import Tensor
from ..hub import HF_GELU
from ..inputs import as_ids
from .model import (
    BertForPreTrainingOutput,
    BertModel,
    BertPreTrainedModel,
    MaskedLMOutput,
    QuestionAnsweringModelOutput,
    SequenceClassifierOutput,
    TokenClassifierOutput,
)


class BertPredictionHeadTransform(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c.hidden_size, c.hidden_size)
        self.transform_act_fn = nn.GELU(HF_GELU[c.hidden_act])
        self.LayerNorm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)

    def forward(self, h):
        return self.LayerNorm(self.transform_act_fn(self.dense(h)))


class BertLMPredictionHead(nn.Module):
    """transform, then the decoder: the word embeddings (tied) plus a bias of its own."""

    def __init__(self, c, word_embeddings):
        super().__init__()
        self.transform = BertPredictionHeadTransform(c)
        self.bias = nn.Parameter(np.zeros(c.vocab_size, dtype=np.float32))
        self.decoder = nn.Linear(c.hidden_size, c.vocab_size)
        self.decoder.bias = self.bias
        if c.tie_word_embeddings:
            self.decoder.weight = word_embeddings.weight

    def forward(self, h):
        return self.decoder(self.transform(h))  # (B, T, V)


class BertOnlyMLMHead(nn.Module):
    def __init__(self, c, word_embeddings):
        super().__init__()
        self.predictions = BertLMPredictionHead(c, word_embeddings)


class BertPreTrainingHeads(nn.Module):
    def __init__(self, c, word_embeddings):
        super().__init__()
        self.predictions = BertLMPredictionHead(c, word_embeddings)
        self.seq_relationship = nn.Linear(c.hidden_size, 2)


def _mlm_loss(logits, labels):
    B, T, V = logits.shape
    return F.cross_entropy(logits.reshape(B * T, V), as_ids(labels, "labels", (B, T)).reshape(-1))


class BertForPreTraining(BertPreTrainedModel):
    """Masked LM + next-sentence prediction. labels (B, T) hold the original token
    at masked positions and -100 elsewhere; next_sentence_label (B,) is 0 when B
    follows A, 1 when B is random. loss = mean MLM cross-entropy + NSP cross-entropy
    (either alone when only one kind of label is given)."""

    def __init__(self, config):
        super().__init__()
        self.config = config
        self.bert = BertModel(config)
        self.cls = BertPreTrainingHeads(config, self.bert.embeddings.word_embeddings)
        self._init_weights(done=self.bert)

    def forward(self, input_ids, attention_mask=None, token_type_ids=None, labels=None,
                next_sentence_label=None, output_attentions=False):
        out = self.bert(input_ids, attention_mask, token_type_ids, output_attentions)
        logits = self.cls.predictions(out.last_hidden_state)  # (B, T, V)
        nsp = self.cls.seq_relationship(out.pooler_output)  # (B, 2)
        loss = None
        if labels is not None:
            loss = _mlm_loss(logits, labels)
        if next_sentence_label is not None:
            nsl = as_ids(next_sentence_label, "next_sentence_label", (nsp.shape[0],))
            nsp_loss = F.cross_entropy(nsp, nsl)
            loss = nsp_loss if loss is None else loss + nsp_loss
        return BertForPreTrainingOutput(logits, nsp, loss, out.attentions)


class BertForMaskedLM(BertPreTrainedModel):
    def __init__(self, config):
        super().__init__()
        self.config = config
        self.bert = BertModel(config, add_pooling_layer=False)
        self.cls = BertOnlyMLMHead(config, self.bert.embeddings.word_embeddings)
        self._init_weights(done=self.bert)

    def forward(self, input_ids, attention_mask=None, token_type_ids=None, labels=None, output_attentions=False):
        out = self.bert(input_ids, attention_mask, token_type_ids, output_attentions)
        logits = self.cls.predictions(out.last_hidden_state)
        return MaskedLMOutput(logits, None if labels is None else _mlm_loss(logits, labels), out.attentions)


class BertForSequenceClassification(BertPreTrainedModel):
    """A classifier on the pooled [CLS]. The loss follows config.problem_type, as
    transformers: regression (labels (B,) floats, mean squared error),
    single_label_classification (labels (B,) class ids, cross-entropy) or
    multi_label_classification (labels (B, num_labels) of 0 and 1, binary
    cross-entropy on each logit). None: regression for num_labels=1, else single-label
    for integer labels, multi-label for float ones."""

    def __init__(self, config):
        super().__init__()
        self.config, self.num_labels = config, config.num_labels
        self.bert = BertModel(config)
        p = config.classifier_dropout
        self.dropout = nn.Dropout(config.hidden_dropout_prob if p is None else p)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        self._init_weights(done=self.bert)

    def forward(self, input_ids, attention_mask=None, token_type_ids=None, labels=None, output_attentions=False):
        out = self.bert(input_ids, attention_mask, token_type_ids, output_attentions)
        logits = self.classifier(self.dropout(out.pooler_output))  # (B, num_labels)
        loss = None if labels is None else self._loss(logits, labels)
        return SequenceClassifierOutput(logits, loss, out.attentions)

    def _loss(self, logits, labels):
        y = np.asarray(labels.data if isinstance(labels, Tensor) else labels)
        kind = self.config.problem_type
        if kind is None:
            kind = ("regression" if self.num_labels == 1 else "single_label_classification"
                    if np.issubdtype(y.dtype, np.integer) else "multi_label_classification")
        if kind == "regression":
            return ((logits.reshape(-1) - y.astype(logits.dtype).reshape(-1)) ** 2).mean()
        if kind == "multi_label_classification":
            if y.shape != logits.shape:
                raise ValueError(f"BertForSequenceClassification: multi-label labels of shape {y.shape} do not "
                                 f"match logits {logits.shape}")
            return F.binary_cross_entropy_with_logits(logits, y.astype(logits.dtype))
        return F.cross_entropy(logits, as_ids(y, "labels", (logits.shape[0],)))


class BertForTokenClassification(BertPreTrainedModel):
    """A classifier on every token: labels (B, T), -100 on padding and on word-piece
    continuations so each word is scored once."""

    def __init__(self, config):
        super().__init__()
        self.config, self.num_labels = config, config.num_labels
        self.bert = BertModel(config, add_pooling_layer=False)
        p = config.classifier_dropout
        self.dropout = nn.Dropout(config.hidden_dropout_prob if p is None else p)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        self._init_weights(done=self.bert)

    def forward(self, input_ids, attention_mask=None, token_type_ids=None, labels=None, output_attentions=False):
        out = self.bert(input_ids, attention_mask, token_type_ids, output_attentions)
        logits = self.classifier(self.dropout(out.last_hidden_state))  # (B, T, num_labels)
        loss = None
        if labels is not None:
            B, T, L = logits.shape
            loss = F.cross_entropy(logits.reshape(B * T, L), as_ids(labels, "labels", (B, T)).reshape(-1))
        return TokenClassifierOutput(logits, loss, out.attentions)


class BertForQuestionAnswering(BertPreTrainedModel):
    """Start and end logits over the tokens; loss is the mean of the two
    cross-entropies. Positions are clamped to [0, T] and T is ignored, as
    transformers does for answers cut off by truncation."""

    def __init__(self, config):
        super().__init__()
        self.config = config
        if config.num_labels != 2:
            raise ValueError(f"BertForQuestionAnswering: num_labels must be 2 (start, end), got {config.num_labels}")
        self.bert = BertModel(config, add_pooling_layer=False)
        self.qa_outputs = nn.Linear(config.hidden_size, 2)
        self._init_weights(done=self.bert)

    def forward(self, input_ids, attention_mask=None, token_type_ids=None, start_positions=None,
                end_positions=None, output_attentions=False):
        out = self.bert(input_ids, attention_mask, token_type_ids, output_attentions)
        logits = self.qa_outputs(out.last_hidden_state)  # (B, T, 2)
        B, T, _ = logits.shape
        start, end = logits[:, :, 0], logits[:, :, 1]  # (B, T) each
        loss = None
        if start_positions is not None and end_positions is not None:
            def targets(pos, name):
                pos = np.clip(as_ids(pos, name, (B,)), 0, T)
                return np.where(pos == T, -100, pos)
            loss = (F.cross_entropy(start, targets(start_positions, "start_positions"))
                    + F.cross_entropy(end, targets(end_positions, "end_positions"))) / 2
        return QuestionAnsweringModelOutput(start, end, loss, out.attentions)


# model_type in a minitx checkpoint's config.json -> the class it holds (see checkpoint.build_model)
MODEL_TYPES = {"bert": BertForPreTraining, "bert-classify": BertForSequenceClassification,
               "bert-tag": BertForTokenClassification, "bert-qa": BertForQuestionAnswering}
