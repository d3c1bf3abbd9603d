"""feature-extraction: BERT's hidden states, per token or pooled into one vector."""
import numpy as np

from .base import Option, Pipeline, load_for_task

POOLING = (None, "mean", "cls")


class FeatureExtractionPipeline(Pipeline):
    """pipe(text) -> per-token hidden states [[[C floats] x T]] (transformers' nesting, batch of 1,
    [CLS] and [SEP] included); pooling="mean": the mean over the tokens, [C floats]
    (`minitx embed`'s sentence embedding); pooling="cls": [CLS]'s hidden state.
    normalize=True scales pooled vectors to unit length; return_tensors=True gives
    NumPy arrays instead of lists."""

    task = "feature-extraction"
    cli_options = (Option("--pooling", "one vector per text (mean, cls), or per token (none)", default="mean",
                          choices=("mean", "cls", "none"),
                          to_call=lambda v: {"pooling": None if v == "none" else v}),)

    @classmethod
    def load(cls, path, **options):
        from ..models.bert import MODEL_TYPES, BertModel
        model, tokenizer = load_for_task(path, cls.task, BertModel, tuple(MODEL_TYPES))
        return cls(model, tokenizer, **options)

    def _run(self, texts, notes, pooling=None, normalize=False, return_tensors=False):
        from ..models.bert import mean_pool
        if pooling not in POOLING:
            raise ValueError(f"feature-extraction: pooling must be None, 'mean' or 'cls', got {pooling!r}")
        enc = self._encode(texts, notes)
        h = self.model(enc.input_ids, enc.attention_mask, enc.token_type_ids).last_hidden_state  # (B, T, C)
        if pooling is None:
            rows = [h.data[b:b + 1, :int(m.sum())] for b, m in enumerate(enc.attention_mask)]  # (1, T_b, C)
        else:
            pooled = mean_pool(h, enc.attention_mask).data if pooling == "mean" else h.data[:, 0]  # (B, C)
            if normalize:
                pooled = pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
            rows = list(pooled)
        return [r if return_tensors else r.tolist() for r in rows]
