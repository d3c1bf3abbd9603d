"""BERT's hyperparameters, named as in transformers' BertConfig."""
import dataclasses
from dataclasses import dataclass
from typing import Optional

from ...config import check_fields, from_dict
from ..hub import HF_GELU

PROBLEM_TYPES = (None, "single_label_classification", "multi_label_classification", "regression")


def checkpoint_problem_type(config):
    """problem_type of a minitx checkpoint's checkpoint.json: its model section's, or for
    checkpoints written before BertConfig had the field, the top level's."""
    model = config.get("model")
    stored = model.get("problem_type") if isinstance(model, dict) else None
    return stored if stored is not None else config.get("problem_type")


@dataclass
class BertConfig:
    """BERT's hyperparameters, named as in transformers' BertConfig."""
    vocab_size: int = 30522
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    hidden_act: str = "gelu"  # the exact erf GELU, as BERT
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    initializer_range: float = 0.02
    layer_norm_eps: float = 1e-12
    pad_token_id: int = 0
    classifier_dropout: Optional[float] = None  # None means hidden_dropout_prob
    tie_word_embeddings: bool = True
    num_labels: int = 2
    id2label: Optional[dict] = None  # label names of a fine-tuned head, {0: "neg", ...}
    # BertForSequenceClassification's loss, as transformers': None infers it from
    # num_labels and the labels' dtype
    problem_type: Optional[str] = None

    def __post_init__(self):
        check_fields(self)
        for name in ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
                     "intermediate_size", "max_position_embeddings", "type_vocab_size", "num_labels"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"BertConfig: {name} must be positive, got {getattr(self, name)}")
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(f"BertConfig: hidden_size {self.hidden_size} is not divisible by "
                             f"num_attention_heads {self.num_attention_heads}")
        if self.hidden_act not in HF_GELU:
            raise ValueError(f"BertConfig: hidden_act {self.hidden_act!r} is not one of {sorted(HF_GELU)}")
        for name in ("hidden_dropout_prob", "attention_probs_dropout_prob", "classifier_dropout"):
            p = getattr(self, name)
            if p is not None and not 0 <= p < 1:
                raise ValueError(f"BertConfig: {name} must be in [0, 1), got {p}")
        if not 0 <= self.pad_token_id < self.vocab_size:
            raise ValueError(f"BertConfig: pad_token_id {self.pad_token_id} outside [0, {self.vocab_size})")
        if self.problem_type not in PROBLEM_TYPES:
            raise ValueError(f"BertConfig: problem_type {self.problem_type!r} is not one of "
                             f"{', '.join(map(repr, PROBLEM_TYPES))}")
        if self.id2label is not None:
            self.id2label = {int(k): v for k, v in self.id2label.items()}
            if sorted(self.id2label) != list(range(self.num_labels)):
                raise ValueError(f"BertConfig: id2label keys {sorted(self.id2label)} are not "
                                 f"0..{self.num_labels - 1}")

    @classmethod
    def from_dict(cls, data, where):
        return from_dict(cls, data, where)

    def to_dict(self):
        return dataclasses.asdict(self)
