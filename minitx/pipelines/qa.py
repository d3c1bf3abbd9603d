"""question-answering: the decoding of transformers 4's QuestionAnsweringPipeline
(transformers 5 dropped it).

Each (question, context) is tokenized [CLS] question [SEP] context-window [SEP].
A context longer than the model reads is cut into overlapping windows: each
holds as many context tokens as fit, and the next starts doc_stride tokens
before this one ends. In each window:

  p_start, p_end = softmax of the start and end logits, tokens outside the
                   context (question, [SEP], padding) set to -10000 first;
  score(s, e)    = p_start[s] * p_end[e], for s <= e < s + max_answer_len;
  no answer      = p_start[CLS] * p_end[CLS] (the least over the windows),
                   offered only with handle_impossible_answer=True.

The best spans of all windows are ranked together. A span's characters run
from its first token's start to its last token's end; with align_to_words
(the default) they widen to whole words (as much of them as the window holds),
so an answer may begin inside a word only with align_to_words=False.
"""
import numpy as np

from .base import Option, Pipeline, load_for_task


class QuestionAnsweringPipeline(Pipeline):
    """pipe(question=..., context=...) or pipe({"question", "context"}) -> {score, start, end, answer};
    top_k > 1 gives a list; a list of questions gives a list of results."""

    task = "question-answering"
    inputs = ("question", "context")
    cli_options = (
        Option("--top-k", "how many answers per question", default=1, kind="positive_int"),
        Option("--doc-stride", "tokens each window shares with the previous one", kind="positive_int"),
        Option("--max-answer-len", "the longest answer, in tokens", default=15, kind="positive_int"),
        Option("--handle-impossible-answer", 'allow the answer "" (no answer in the context)', kind="flag"),
    )

    @classmethod
    def load(cls, path, **options):
        from ..models.bert import BertForQuestionAnswering
        model, tokenizer = load_for_task(path, cls.task, BertForQuestionAnswering, ("bert-qa",))
        return cls(model, tokenizer, **options)

    def __call__(self, inputs=None, question=None, context=None, **options):
        if inputs is None:
            if question is None:
                raise ValueError("question-answering: give question= and context=, or {'question', 'context'} dicts")
            if isinstance(question, (list, tuple)):
                contexts = context if isinstance(context, (list, tuple)) else [context] * len(question)
                if len(contexts) != len(question):
                    raise ValueError(f"question-answering: {len(question)} questions but {len(contexts)} contexts")
                inputs = [{"question": q, "context": c} for q, c in zip(question, contexts)]
            else:
                inputs = {"question": question, "context": context}
        return super().__call__(inputs, **options)

    def _check(self, i, item):
        if not isinstance(item, dict):
            raise TypeError(f"question-answering: input {i} is a {type(item).__name__}, not a "
                            "{'question': ..., 'context': ...} dict")
        for key in ("question", "context"):
            value = item.get(key)
            if not isinstance(value, str) or not value.strip():
                raise ValueError(f"question-answering: input {i} has no {key}" if key == "context" or value is None
                                 else f"question-answering: input {i}: the {key} is empty")

    def _shape(self, result, options):
        return result[0] if len(result) == 1 else result

    def _run(self, items, notes, top_k=1, doc_stride=None, max_answer_len=15, max_seq_len=None,
             handle_impossible_answer=False, align_to_words=True):
        if max_answer_len < 1:
            raise ValueError(f"question-answering: max_answer_len must be >= 1, got {max_answer_len}")
        if top_k < 1:
            raise ValueError(f"question-answering: top_k must be >= 1, got {top_k}")
        max_seq_len = max_seq_len or min(self.max_length, 384)
        doc_stride = min(max_seq_len // 2, 128) if doc_stride is None else doc_stride
        results = []
        for item, note in zip(items, notes):
            answers = self._answer(item["question"], item["context"], note, top_k, doc_stride, max_answer_len,
                                   max_seq_len, handle_impossible_answer, align_to_words)
            results.append(answers[0] if top_k == 1 else answers)
        return results

    def _windows(self, q_ids, c_ids, max_seq_len, doc_stride):
        """Token windows over the context ids: [(first context token, ids), ...]."""
        room = max_seq_len - len(q_ids) - 3
        if room < 1:
            raise ValueError(f"question-answering: the question takes {len(q_ids)} tokens, leaving no room for "
                             f"the context in {max_seq_len}")
        if doc_stride >= room:
            raise ValueError(f"question-answering: doc_stride {doc_stride} must be below the {room} context "
                             f"tokens a window holds (max_seq_len {max_seq_len} less the question)")
        start, windows = 0, []
        while True:
            windows.append(start)
            if start + room >= len(c_ids):
                return windows, room
            start += room - doc_stride

    def _answer(self, question, context, note, top_k, doc_stride, max_answer_len, max_seq_len,
                impossible, align_to_words):
        tok = self.tokenizer
        q_ids = tok.encode(question, add_special_tokens=False).input_ids
        enc = tok.encode(context, add_special_tokens=False, return_offsets_mapping=True)
        c_ids, c_off = enc.input_ids, enc.offset_mapping
        starts, room = self._windows(q_ids, c_ids, max_seq_len, doc_stride)
        if len(starts) > 1:
            note["windows"] = len(starts)
        B, T = len(starts), len(q_ids) + 3 + min(room, len(c_ids))
        ids = np.full((B, T), tok.pad_id, dtype=np.int64)  # (B, T)
        types = np.zeros((B, T), dtype=np.int64)  # (B, T)
        mask = np.zeros((B, T), dtype=np.int64)  # (B, T)
        first = len(q_ids) + 2  # where the context begins in each window
        for b, s in enumerate(starts):
            window = c_ids[s:s + room]
            row = [tok.cls_id, *q_ids, tok.sep_id, *window, tok.sep_id]
            ids[b, :len(row)], mask[b, :len(row)], types[b, first:len(row)] = row, 1, 1
        out = self.model(ids, mask, types)
        start_logits = out.start_logits.data.astype(np.float64)  # (B, T)
        end_logits = out.end_logits.data.astype(np.float64)  # (B, T)
        candidates, null = [], 1e6
        for b, s in enumerate(starts):
            n = min(room, len(c_ids) - s)
            allowed = np.zeros(T, dtype=bool)  # context tokens, and [CLS] for the null answer
            allowed[first:first + n] = True
            allowed[0] = True
            p_start = _masked_softmax(start_logits[b], allowed)
            p_end = _masked_softmax(end_logits[b], allowed)
            if impossible:
                null = min(null, p_start[0] * p_end[0])
            p_start[0] = p_end[0] = 0.0
            outer = np.tril(np.triu(np.outer(p_start, p_end)), max_answer_len - 1)  # (T, T)
            flat = outer.ravel()
            best = np.argsort(-flat, kind="stable")[:top_k]
            for k in best:
                i, j = divmod(int(k), T)
                if allowed[i] and allowed[j] and 0 < i <= j < i + max_answer_len:
                    candidates.append((float(flat[k]), s + i - first, s + j - first, s, s + n))
        answers = []
        for score, i, j, lo, hi in candidates:
            if align_to_words:  # to the words' ends within the window, as a window may cut a word
                i, j = self._word_start(c_ids, i, lo), self._word_end(c_ids, j, hi)
            lo, hi = int(c_off[i][0]), int(c_off[j][1])
            answers.append({"score": score, "start": lo, "end": hi, "answer": context[lo:hi]})
        if impossible:
            answers.append({"score": float(null), "start": 0, "end": 0, "answer": ""})
        answers.sort(key=lambda a: a["score"], reverse=True)
        # a context of no tokens (only control characters, say) has no span to offer
        return answers[:top_k] or [{"score": 0.0, "start": 0, "end": 0, "answer": ""}]

    def _continues(self, token_id):
        return self.tokenizer.id_to_token(int(token_id)).startswith(self.tokenizer.PREFIX)

    def _word_start(self, c_ids, i, lo):
        while i > lo and self._continues(c_ids[i]):
            i -= 1
        return i

    def _word_end(self, c_ids, j, hi):
        while j + 1 < hi and self._continues(c_ids[j + 1]):
            j += 1
        return j


def _masked_softmax(logits, allowed):
    x = np.where(allowed, logits, -10000.0)
    e = np.exp(x - x.max())
    return e / e.sum()
