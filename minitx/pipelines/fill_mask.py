"""fill-mask: the most likely tokens for each [MASK], as transformers' FillMaskPipeline."""
import numpy as np

from .base import Option, Pipeline, clean_up_spaces, load_for_task, softmax


class FillMaskPipeline(Pipeline):
    """pipe(text, top_k=5) -> [{score, token, token_str, sequence}] best first; a text
    with several [MASK]s gives one such list per mask."""

    task = "fill-mask"
    cli_options = (Option("--top-k", "how many tokens per [MASK]", default=5, kind="positive_int"),)

    @classmethod
    def load(cls, path, **options):
        from ..models.bert import BertForMaskedLM
        model, tokenizer = load_for_task(path, cls.task, BertForMaskedLM, ("bert",))
        return cls(model, tokenizer, **options)

    def _check(self, i, item):
        super()._check(i, item)
        if self.tokenizer.MASK not in item:
            raise ValueError(f"fill-mask: input {i} has no {self.tokenizer.MASK} token: {item!r}")

    def _run(self, texts, notes, top_k=5):
        tok = self.tokenizer
        enc = self._encode(texts, notes)
        logits = self.model(enc.input_ids, enc.attention_mask, enc.token_type_ids).logits.data  # (B, T, V)
        results = []
        for b, (ids, text) in enumerate(zip(enc.input_ids, texts)):
            masks = np.flatnonzero(ids == tok.mask_id)
            if len(masks) == 0:
                raise ValueError(f"fill-mask: the {tok.MASK} of {text!r} lies past the model's "
                                 f"{self.max_length} tokens")
            probs = softmax(logits[b, masks].astype(np.float64))  # (masks, V)
            k = min(top_k, probs.shape[-1])
            rows = []
            for m, p in zip(masks, probs):
                best = np.argsort(-p, kind="stable")[:k]
                row = []
                for t in best:
                    filled = ids.copy()
                    filled[m] = t
                    filled = filled[filled != tok.pad_id]
                    row.append({"score": float(p[t]), "token": int(t), "token_str": clean_up_spaces(tok.decode([int(t)])),
                                "sequence": clean_up_spaces(tok.decode(filled.tolist(),
                                                                       skip_special_tokens=len(masks) == 1))})
                rows.append(row)
            results.append(rows[0] if len(masks) == 1 else rows)
        return results
