"""fill-mask: the most likely tokens for each [MASK], as transformers' FillMaskPipeline."""
import warnings

import numpy as np

from .base import Option, Pipeline, clean_up_spaces, load_for_task, softmax


class FillMaskPipeline(Pipeline):
    """pipe(text, top_k=5, targets=None) -> [{score, token, token_str, sequence}] best
    first; a text with several [MASK]s gives one such list per mask. `targets` (a word
    or a list of them) restricts the answers to those tokens, scored as among the whole
    vocabulary (the scores are not renormalized); a target that is no token of the
    vocabulary stands for its first WordPiece, with a warning."""

    task = "fill-mask"
    cli_options = (Option("--top-k", "how many tokens per [MASK]", default=5, kind="positive_int"),
                   Option("--targets", "only these tokens, comma-separated (fill-mask: targets=[...])",
                          to_call=lambda v: {} if v is None else {"targets": v.split(",")}))

    @classmethod
    def load(cls, path, **options):
        from ..models.bert import BertForMaskedLM
        model, tokenizer = load_for_task(path, cls.task, BertForMaskedLM, ("bert",))
        return cls(model, tokenizer, **options)

    def _check(self, i, item):
        super()._check(i, item)
        if self.tokenizer.MASK not in item:
            raise ValueError(f"fill-mask: input {i} has no {self.tokenizer.MASK} token: {item!r}")

    def target_ids(self, targets):
        """The distinct token ids of `targets`, as transformers' get_target_ids finds them."""
        tok = self.tokenizer
        ids = []
        for target in [targets] if isinstance(targets, str) else list(targets):
            if not isinstance(target, str):
                raise TypeError(f"fill-mask: targets holds a {type(target).__name__}, not a str: {target!r}")
            try:
                ids.append(tok.token_to_id(target))
            except KeyError:   # a word that is no token: its first piece, as transformers does
                pieces = tok.encode(target, add_special_tokens=False).input_ids
                if pieces:
                    warnings.warn(f"fill-mask: target {target!r} is no token of the vocabulary; its first "
                                  f"piece {tok.id_to_token(pieces[0])!r} stands for it", stacklevel=4)
                    ids.append(pieces[0])
                else:
                    warnings.warn(f"fill-mask: target {target!r} is no token of the vocabulary and has no "
                                  f"piece in it; ignored", stacklevel=4)
        if not ids:
            raise ValueError(f"fill-mask: targets {targets!r} name no token; give at least one")
        return np.array(sorted(set(ids)))

    def _run(self, texts, notes, top_k=5, targets=None):
        tok = self.tokenizer
        allowed = None if targets is None else self.target_ids(targets)   # (n,) token ids
        enc = self._encode(texts, notes)
        logits = self.model(enc.input_ids, enc.attention_mask, enc.token_type_ids).logits.data  # (B, T, V)
        results = []
        for b, (ids, text) in enumerate(zip(enc.input_ids, texts)):
            masks = np.flatnonzero(ids == tok.mask_id)
            if len(masks) == 0:
                raise ValueError(f"fill-mask: the {tok.MASK} of {text!r} lies past the model's "
                                 f"{self.max_length} tokens")
            probs = softmax(logits[b, masks].astype(np.float64))  # (masks, V)
            candidates = np.arange(probs.shape[-1]) if allowed is None else allowed
            k = min(top_k, len(candidates))
            rows = []
            for m, p in zip(masks, probs):
                best = candidates[np.argsort(-p[candidates], kind="stable")[:k]]
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
