"""text-classification: labels and scores, as transformers' TextClassificationPipeline."""
import numpy as np

from .base import Option, Pipeline, load_for_task, sigmoid, softmax

_UNSET = object()


class TextClassificationPipeline(Pipeline):
    """pipe(text) -> [{label, score}] (the best label); pipe(text, top_k=k) -> the k best,
    top_k=None: every label, best first. A list of texts gives one result each.
    Scores: softmax over the labels; sigmoid for multi-label models (the model config's
    problem_type multi_label_classification) and single-logit ones; none for
    regression; function_to_apply overrides."""

    task = "text-classification"
    cli_options = (
        Option("--top-k", "how many labels per input (default: the best one)", kind="positive_int",
               to_call=lambda k: {} if k is None else {"top_k": k}),
        Option("--all-labels", "score every label", kind="flag",
               to_call=lambda on: {"top_k": None} if on else {}),
    )

    @classmethod
    def load(cls, path, **options):
        from ..models.bert import BertForSequenceClassification
        model, tokenizer = load_for_task(path, cls.task, BertForSequenceClassification, ("bert-classify",))
        return cls(model, tokenizer, **options)

    def __call__(self, inputs, top_k=_UNSET, **options):
        self._legacy = top_k is _UNSET
        return super().__call__(inputs, top_k=1 if top_k is _UNSET else top_k, **options)

    def _shape(self, result, options):
        return [result] if self._legacy else result

    def _function(self):
        problem_type = self.model.config.problem_type
        if problem_type == "regression":
            return "none"
        if problem_type == "multi_label_classification" or self.model.config.num_labels == 1:
            return "sigmoid"
        return "softmax"

    def _run(self, texts, notes, top_k=1, function_to_apply=None):
        enc = self._encode(texts, notes)
        logits = self.model(enc.input_ids, enc.attention_mask, enc.token_type_ids).logits.data  # (B, L)
        logits = logits.astype(np.float64)
        fn = function_to_apply or self._function()
        if fn not in ("softmax", "sigmoid", "none"):
            raise ValueError(f"text-classification: function_to_apply must be softmax, sigmoid or none, got {fn!r}")
        scores = {"softmax": softmax, "sigmoid": sigmoid, "none": lambda x: x}[fn](logits)
        names = self.model.config.id2label or {}
        results = []
        for row in scores:
            if top_k == 1 and self._legacy:
                best = int(row.argmax())
                results.append({"label": names.get(best, f"LABEL_{best}"), "score": float(row[best])})
                continue
            ranked = sorted(({"label": names.get(i, f"LABEL_{i}"), "score": float(s)} for i, s in enumerate(row)),
                            key=lambda d: d["score"], reverse=True)
            results.append(ranked if top_k is None else ranked[:top_k])
        return results
