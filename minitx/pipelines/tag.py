"""token-classification (NER): entities with character offsets, as transformers'
TokenClassificationPipeline, aggregation strategies included.

aggregation_strategy:
  none     one result per token (its word piece, `entity`, `index`);
  simple   tokens grouped into entities by their labels (B-X starts one, I-X or X continues it);
  first    each word takes its first piece's label, then grouped as simple;
  average  each word takes the label of its pieces' mean scores;
  max      each word takes the label of its most confident piece.
A word piece is a continuation when its text ('##ing') is not as long as the
characters it covers ('ing'), transformers' test for WordPiece vocabularies.
"""
import numpy as np

from .base import Option, Pipeline, clean_up_spaces, load_for_task, softmax

STRATEGIES = ("none", "simple", "first", "average", "max")


class TokenClassificationPipeline(Pipeline):
    """pipe(text, aggregation_strategy="simple") -> [{entity_group, score, word, start, end}];
    with "none": [{entity, score, index, word, start, end}]. Labels in ignore_labels
    (default ["O"]) are left out."""

    task = "token-classification"
    cli_options = (Option("--aggregation-strategy", "how tokens become entities", default="simple",
                          choices=STRATEGIES),)

    @classmethod
    def load(cls, path, **options):
        from ..models.bert import BertForTokenClassification
        model, tokenizer = load_for_task(path, cls.task, BertForTokenClassification, ("bert-tag",))
        return cls(model, tokenizer, **options)

    def _run(self, texts, notes, aggregation_strategy="none", ignore_labels=("O",)):
        strategy = str(aggregation_strategy or "none").lower()
        if strategy not in STRATEGIES:
            raise ValueError(f"token-classification: aggregation_strategy must be one of "
                             f"{', '.join(STRATEGIES)}, got {aggregation_strategy!r}")
        enc = self._encode(texts, notes, return_offsets_mapping=True)
        logits = self.model(enc.input_ids, enc.attention_mask, enc.token_type_ids).logits.data  # (B, T, L)
        scores = softmax(logits.astype(np.float64))
        results = []
        for b, text in enumerate(texts):
            pre = self._pre_entities(text, enc.input_ids[b], scores[b], enc.offset_mapping[b],
                                     enc.attention_mask[b])
            entities = self._aggregate(pre, strategy)
            results.append([e for e in entities
                            if e.get("entity") not in ignore_labels and e.get("entity_group") not in ignore_labels])
        return results

    def _label(self, i):
        return (self.model.config.id2label or {}).get(int(i), f"LABEL_{int(i)}")

    def _pre_entities(self, text, ids, scores, offsets, mask):
        tok, pre = self.tokenizer, []
        special = set(tok.special_tokens.values())
        for idx, (i, (start, end)) in enumerate(zip(ids, offsets)):
            # the special tokens added around the text are skipped; those written in it are
            # tagged like words (transformers' special_tokens_mask)
            if not mask[idx] or (i in special and end == 0):
                continue
            word, ref = tok.id_to_token(int(i)), text[start:end]
            is_subword = len(word) != len(ref)
            if i == tok.unk_id:
                word, is_subword = ref, False
            pre.append({"word": word, "scores": scores[idx], "start": int(start), "end": int(end),
                        "index": idx, "is_subword": is_subword})
        return pre

    def _aggregate(self, pre, strategy):
        if strategy in ("none", "simple"):
            entities = [{"entity": self._label(p["scores"].argmax()), "score": float(p["scores"].max()),
                         "index": p["index"], "word": p["word"], "start": p["start"], "end": p["end"]}
                        for p in pre]
        else:
            entities, group = [], []
            for p in pre:
                if group and not p["is_subword"]:
                    entities.append(self._aggregate_word(group, strategy))
                    group = []
                group.append(p)
            if group:
                entities.append(self._aggregate_word(group, strategy))
        return entities if strategy == "none" else self._group(entities)

    def _join(self, words):
        """transformers' convert_tokens_to_string: the WordPiece decoder, cleaned up."""
        return clean_up_spaces(" ".join(words).replace(" " + self.tokenizer.PREFIX, "").strip())

    def _aggregate_word(self, pieces, strategy):
        if strategy == "first":
            scores = pieces[0]["scores"]
        elif strategy == "max":
            scores = max(pieces, key=lambda p: p["scores"].max())["scores"]
        else:
            scores = np.nanmean(np.stack([p["scores"] for p in pieces]), axis=0)
        best = int(scores.argmax())
        return {"entity": self._label(best), "score": float(scores[best]), "word": self._join(p["word"] for p in pieces),
                "start": pieces[0]["start"], "end": pieces[-1]["end"]}

    @staticmethod
    def _tag(label):
        """(B or I, the entity type): labels without a B-/I- prefix continue like I-."""
        if label.startswith(("B-", "I-")):
            return label[0], label[2:]
        return "I", label

    def _group(self, entities):
        groups, run = [], []
        for e in entities:
            bi, tag = self._tag(e["entity"])
            if run and (tag != self._tag(run[-1]["entity"])[1] or bi == "B"):
                groups.append(self._group_run(run))
                run = []
            run.append(e)
        if run:
            groups.append(self._group_run(run))
        return groups

    def _group_run(self, run):
        return {"entity_group": run[0]["entity"].split("-", 1)[-1],
                "score": float(np.nanmean([e["score"] for e in run])),
                "word": self._join(e["word"] for e in run), "start": run[0]["start"], "end": run[-1]["end"]}
