"""zero-shot-classification: labels chosen at call time, scored by an NLI model, as
transformers' ZeroShotClassificationPipeline.

Each (text, label) pair becomes an NLI premise and hypothesis, "This example is
{label}.", and the model's entailment logit is the label's evidence: a softmax of
the entailment logits over the labels (one label is true), or with multi_label a
softmax of entailment against contradiction for each label alone.
"""
import warnings

import numpy as np

from .base import Option, Pipeline, load_for_task, softmax


def _labels(candidate_labels):
    """A list of labels, or one string of comma-separated labels, as transformers takes."""
    if isinstance(candidate_labels, str):
        return [label.strip() for label in candidate_labels.split(",") if label.strip()]
    return list(candidate_labels or [])


class ZeroShotClassificationPipeline(Pipeline):
    """pipe(text, candidate_labels, hypothesis_template="This example is {}.",
    multi_label=False) -> {sequence, labels, scores}, labels best first. The model is a
    sequence classifier trained on NLI whose id2label has a label starting with
    "entail"; a list of texts gives one result each."""

    task = "zero-shot-classification"
    cli_options = (
        Option("--candidate-labels", "the labels to choose from, comma-separated"),
        Option("--hypothesis-template", "the NLI hypothesis, {} standing for a label",
               default="This example is {}."),
        Option("--multi-label", "score each label alone (several may be true)", kind="flag"),
    )

    @classmethod
    def load(cls, path, **options):
        from ..models.bert import BertForSequenceClassification
        model, tokenizer = load_for_task(path, cls.task, BertForSequenceClassification, ("bert-classify",))
        return cls(model, tokenizer, **options)

    def __call__(self, inputs, candidate_labels=None, **options):
        if candidate_labels is not None:
            options["candidate_labels"] = candidate_labels
        return super().__call__(inputs, **options)

    @property
    def entailment_id(self):
        """The id of the label named entail..., as transformers finds it (-1 if none)."""
        names = self.model.config.id2label or {}
        return next((i for i, name in sorted(names.items()) if name.lower().startswith("entail")), -1)

    def _run(self, texts, notes, candidate_labels=None, hypothesis_template="This example is {}.",
             multi_label=False):
        labels = _labels(candidate_labels)
        if not labels:
            raise ValueError("zero-shot-classification: give candidate_labels, at least one")
        if hypothesis_template.format(labels[0]) == hypothesis_template:
            raise ValueError(f"zero-shot-classification: hypothesis_template {hypothesis_template!r} has no {{}} "
                             f"for the label")
        entail = self.entailment_id
        if entail == -1:
            warnings.warn("zero-shot-classification: no label of the model's id2label starts with 'entail'; "
                          "using the last label as entailment", stacklevel=3)
        n = len(labels)
        premises = [text for text in texts for _ in labels]                  # (B n,)
        hypotheses = [hypothesis_template.format(label) for _ in texts for label in labels]
        pair_notes = [{} for _ in premises]
        enc = self._encode(premises, pair_notes, text_pairs=hypotheses)
        logits = self.model(enc.input_ids, enc.attention_mask, enc.token_type_ids).logits.data  # (B n, L)
        logits = logits.astype(np.float64).reshape(len(texts), n, -1)       # (B, n, L)
        for b, note in enumerate(notes):
            if any(pair_notes[b * n + j].get("truncated") for j in range(n)):
                note["truncated"] = True
        if multi_label or n == 1:
            contradiction = -1 if entail == 0 else 0
            scores = softmax(logits[..., [contradiction, entail]])[..., 1]     # (B, n), each label alone
        else:
            scores = softmax(logits[..., entail])                             # (B, n), over the labels
        results = []
        for text, row in zip(texts, scores):
            order = list(reversed(row.argsort()))  # transformers' order, ties included
            results.append({"sequence": text, "labels": [labels[i] for i in order],
                            "scores": [float(row[i]) for i in order]})
        return results
