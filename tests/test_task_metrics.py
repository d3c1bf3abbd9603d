"""What training reports at an evaluation (minitx/training/metrics.py) is the standard
definition: macro F1 as scikit-learn, entity F1 as seqeval, QA scored with SQuAD's
normalisation on the answer text, a language model's perplexity exp(val loss)."""
import math
import warnings

import numpy as np
import pytest

import minitx
from minitx.backend import use_backend
from minitx.data.finetune import encode
from minitx.tokenizers import WordPieceTokenizer
from minitx.training.metrics import classify_metrics, is_chunk_scheme, tag_metrics, task_metrics

seqeval = pytest.importorskip("seqeval.metrics")
sklearn_metrics = pytest.importorskip("sklearn.metrics")


class Predicts:
    """A model whose logits put 1 on the ids given for each row (B, T) or (B,)."""

    def __init__(self, pred, V):
        self.pred, self.V = np.asarray(pred), V

    def __call__(self, ids, mask, types):
        return type("Out", (), {"logits": minitx.tensor(np.eye(self.V)[self.pred])})


def test_classification_reports_accuracy_and_sklearns_macro_f1():
    gold, pred = np.array([0, 0, 1, 2, 2, 1]), np.array([0, 1, 1, 1, 2, 1])   # class 2 once missed
    batches = iter([pred[:4], pred[4:]])

    class Batched:   # the predictions of each batch in turn
        def __call__(self, ids, mask, types):
            return Predicts(next(batches), 3)(ids, mask, types)
    assert classify_metrics(Batched(), [
        {"input_ids": None, "attention_mask": None, "token_type_ids": None, "labels": gold[i:i + 4]} for i in (0, 4)
    ]) == {"accuracy": sklearn_metrics.accuracy_score(gold, pred),
           "macro_f1": sklearn_metrics.f1_score(gold, pred, average="macro")}


def test_tagging_reports_seqevals_entity_f1():
    names = ["B-LOC", "B-PER", "I-PER", "O"]
    # two sentences; -100 marks [CLS], [SEP], padding and continuation pieces
    gold = np.array([[-100, 1, 2, 3, 0, -100], [-100, 3, 2, 2, -100, -100]])
    pred = np.array([[0, 1, 3, 3, 0, 0], [3, 3, 1, 2, 0, 0]])
    batch = {"input_ids": pred, "attention_mask": None, "token_type_ids": None, "labels": gold}
    m = tag_metrics(Predicts(pred, 4), [batch], outside=3, names=names)
    true_tags = [["B-PER", "I-PER", "O", "B-LOC"], ["O", "I-PER", "I-PER"]]
    pred_tags = [["B-PER", "O", "O", "B-LOC"], ["O", "B-PER", "I-PER"]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert m["entity_f1"] == seqeval.f1_score(true_tags, pred_tags)
        assert m["entity_precision"] == seqeval.precision_score(true_tags, pred_tags)
        assert m["entity_recall"] == seqeval.recall_score(true_tags, pred_tags)
    # found: LOC, and the second PER (IOB1: I- opens it); the first PER cut short is missed
    assert m["entity_f1"] == pytest.approx(2 / 3) and m["accuracy"] == pytest.approx(5 / 7)
    # part-of-speech tags are no chunks: no entity scores
    assert not is_chunk_scheme(["NOUN", "VERB"]) and is_chunk_scheme(["O", "B-X", "I-X", "E-X", "S-X"])
    assert "entity_f1" not in tag_metrics(Predicts(pred, 4), [batch], outside=3)


def test_qa_scores_the_span_text_with_squads_normalisation():
    tok = WordPieceTokenizer.train(["where did the rain fall ? rain fell over the paris basin ."] * 3,
                                   vocab_size=120, min_frequency=1)
    examples = [{"question": "where did the rain fall ?", "context": "Rain fell over the Paris basin.",
                 "answer": "Paris", "line": "q:1"}]
    val = encode(examples, "qa", tok, 64)
    lo, hi = val.extra["context_span"][0]
    ids = val.inputs["input_ids"][0]
    the = lo + len(tok.encode("Rain fell over", add_special_tokens=False).input_ids)      # "the"
    paris = lo + len(tok.encode("Rain fell over the Paris", add_special_tokens=False).input_ids) - 1
    basin = paris + 1

    class Span:   # start and end logits peaked on the span first..last
        def __init__(self, first, last):
            self.first, self.last = first, last

        def __call__(self, ids_, mask, types):
            start, end = np.zeros(ids_.shape), np.zeros(ids_.shape)
            start[:, self.first], end[:, self.last] = 5.0, 5.0
            return type("Out", (), {"start_logits": minitx.tensor(start), "end_logits": minitx.tensor(end)})
    batch = {k: v[:1] for k, v in val.inputs.items()}
    assert ids[the] != ids[paris] and lo <= the < paris < basin < hi
    score = task_metrics("qa", [], val, tok)
    # "the Paris" against "Paris": the article goes, exact match 1 (not F1 2/3)
    assert score(Span(the, paris), [batch]) == {"exact_match": 1.0, "f1": 1.0}
    # "Paris basin": the text cut from the context, scored word by word
    assert score(Span(paris, basin), [batch]) == {"exact_match": 0.0, "f1": pytest.approx(2 / 3)}


def test_a_language_models_validation_perplexity_is_exp_of_its_loss(tmp_path):
    from minitx.data import TokenDataset
    from minitx.models.gpt import GPT, GPTConfig
    from minitx.training.metrics import lm_metrics
    from minitx.training.trainer import TrainConfig, Trainer
    minitx.manual_seed(0)
    gpt = GPTConfig(vocab_size=11, block_size=4, n_layer=1, n_head=1, n_embd=8)
    data = TokenDataset(np.arange(200) % 11, 4, seed=0)
    trainer = Trainer(GPT(gpt), data, TrainConfig(max_iters=1, batch_size=2, eval_iters=2), str(tmp_path),
                      {"model_type": "gpt", "model": gpt.to_dict()}, progress=False, metrics=lm_metrics)
    with use_backend("numpy"):
        result = trainer.evaluate()
    assert result["val_perplexity"] == math.exp(result["val_loss"])
