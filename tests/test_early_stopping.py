"""Early stopping: the rule (EarlyStopping), its count kept exactly across a resume
(Trainer), and the commands' --early-stopping-patience / --early-stopping-min-delta,
driven in subprocesses as a user runs them."""
import json

import numpy as np
import pytest

import minitx
from minitx.backend import use_backend
from minitx.data import TokenDataset, builtin_text
from minitx.models.gpt import GPT, GPTConfig
from minitx.tokenizers import CharTokenizer
from minitx.training.checkpoint import CheckpointError, load_checkpoint
from minitx.training.early_stopping import EarlyStopping
from minitx.training.trainer import TrainConfig, Trainer
from tests.cli_harness import BERT_TINY, GPT_TINY, WORDS, error_line, rehash
from tests.cli_harness import minitx as run_minitx


# ---- the rule -----------------------------------------------------------------------------
def test_an_improvement_must_beat_the_best_by_more_than_min_delta():
    stop = EarlyStopping(patience=2, min_delta=0.1)
    assert not stop.update(1.0, 0)                    # the first evaluation sets the best
    assert not stop.update(0.95, 1)                   # 0.05 lower: not an improvement
    assert (stop.best, stop.bad_evals) == (1.0, 1)
    assert not stop.update(0.85, 2)                   # 0.15 below the best: counts, and resets the count
    assert (stop.best, stop.best_step, stop.bad_evals) == (0.85, 2, 0)
    assert not stop.update(0.80, 3)
    assert stop.update(0.90, 4)                       # two in a row without: stop
    assert stop.reason(4) == ("early stopping at step 4: the validation loss has not improved by more than 0.1 "
                              "in 2 evaluations (patience 2; best 0.8500 at step 2)")


def test_patience_zero_counts_but_never_stops():
    stop = EarlyStopping()
    for step in range(5):
        assert not stop.update(1.0, step)
    assert stop.bad_evals == 4 and not stop.should_stop


def test_state_round_trips_and_a_bad_one_is_named():
    stop = EarlyStopping(3, 0.5)
    for step, loss in enumerate([2.0, 1.0, 1.2]):
        stop.update(loss, step)
    again = EarlyStopping(3, 0.5)
    again.load_state_dict(json.loads(json.dumps(stop.state_dict())))
    assert again.state_dict() == stop.state_dict() == {"best": 1.0, "best_step": 1, "bad_evals": 1}
    for bad in ({"best": 1.0, "best_step": None, "bad_evals": 0}, {"best": None, "best_step": None, "bad_evals": -1},
                {"best": "1", "best_step": 1, "bad_evals": 0}):
        with pytest.raises(ValueError, match="expected best"):
            again.load_state_dict(bad)
    with pytest.raises(ValueError, match="patience must be an integer >= 0"):
        EarlyStopping(-1)


# ---- the Trainer: stopping, best/, and the count across a resume -------------------------------
TEXT = builtin_text()[:5_000]
TOK = CharTokenizer.train(TEXT)


def _trainer(out, **train):
    minitx.manual_seed(0)
    gpt = GPTConfig(vocab_size=TOK.vocab_size, block_size=8, n_layer=1, n_head=2, n_embd=16)
    data = TokenDataset(np.array(TOK.encode(TEXT)), 8, seed=0)
    # min_delta larger than any loss: no evaluation after the first improves
    cfg = TrainConfig(**{"max_iters": 20, "batch_size": 2, "eval_interval": 1, "eval_iters": 1,
                         "early_stopping_patience": 3, "early_stopping_min_delta": 100.0, **train})
    return Trainer(GPT(gpt), data, cfg, str(out), {"model_type": "gpt", "model": gpt.to_dict()}, tokenizer=TOK,
                   progress=False)


def _records(out):
    return [{k: v for k, v in json.loads(line).items() if k != "elapsed"}
            for line in (out / "metrics.jsonl").read_text().splitlines()]


def test_the_count_survives_a_resume_exactly(tmp_path):
    with use_backend("numpy"):
        whole = _trainer(tmp_path / "whole")
        summary = whole.fit()
        assert summary["stopped_early"] and summary["step"] == 3   # evaluations at 0, then 1, 2, 3 without
        first = _trainer(tmp_path / "split")
        assert not first.fit(until=2)["stopped_early"]
        second = _trainer(tmp_path / "split")
        second.resume()
        assert second.early_stopping.bad_evals == 2
        assert second.fit()["step"] == 3                           # not 5: the count went on from 2
    assert _records(tmp_path / "whole") == _records(tmp_path / "split")
    stop = _records(tmp_path / "whole")[-1]
    assert stop["event"] == "early_stop" and stop["evaluations_without_improvement"] == 3
    # best/ holds the lowest validation loss of the evaluations after the first
    evals = [r["val_loss"] for r in _records(tmp_path / "whole") if r["event"] == "eval"][1:]
    assert load_checkpoint(tmp_path / "whole" / "best").trainer_state["best_val_loss"] == min(evals)


def test_a_malformed_count_in_a_checkpoint_is_named(tmp_path):
    with use_backend("numpy"):
        _trainer(tmp_path).fit(until=1)
    state_file = tmp_path / "last" / "trainer_state.json"
    state = json.loads(state_file.read_text())
    state["early_stopping"] = {"best": 1.0}
    state_file.write_text(json.dumps(state))
    rehash(tmp_path / "last", "trainer_state.json")
    with pytest.raises(CheckpointError, match="'early_stopping' does not fit this run"):
        _trainer(tmp_path).resume(str(tmp_path / "last"))


# ---- the commands ---------------------------------------------------------------------------
NO_GAIN = ["--early-stopping-patience", "2", "--early-stopping-min-delta", "1e9"]


def _stopped_at(out):
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    records = [r for r in records if r["event"] != "sample"]   # the text a GPT writes when it ends
    assert records[-1]["event"] == "early_stop", records[-1]
    return records[-1]["step"], records


def test_train_gpt_stops_early_and_resume_says_so_or_goes_on(tmp_path):
    done = run_minitx("train", "gpt", "--out", "run", "--max-iters", "50", *GPT_TINY, *NO_GAIN, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    step, records = _stopped_at(tmp_path / "run")
    assert step == 2 and [r["step"] for r in records if r["event"] == "eval"] == [0, 1, 2]
    reason = records[-1]["reason"]
    assert reason.startswith("early stopping at step 2: the validation loss has not improved by more than 1e+09 "
                             "in 2 evaluations") and reason in done.stderr.splitlines()
    assert "val perplexity " in done.stderr
    assert (tmp_path / "run" / "best").is_dir()
    # resumed as it is: already stopped, nothing trained, nothing more recorded
    again = run_minitx("train", "gpt", "--out", "run", "--resume", "--no-progress", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert f"already stopped: {reason}" in again.stderr.splitlines()
    assert _stopped_at(tmp_path / "run")[1] == records
    # with a larger patience the count goes on from 2: two more evaluations, then a stop at 4
    more = run_minitx("train", "gpt", "--out", "run", "--resume", "--no-progress", "--early-stopping-patience", "4",
                      cwd=tmp_path)
    assert more.returncode == 0, more.stderr
    assert _stopped_at(tmp_path / "run")[0] == 4


def test_bert_commands_stop_early(tmp_path):
    text = tmp_path / "corpus.txt"
    text.write_text("\n\n".join(" ".join(WORDS[i:] + WORDS[:i]) + " .\n" + " ".join(WORDS[::-1]) + " ."
                                for i in range(8)))
    done = run_minitx("train", "bert", "--data", text, "--out", "pre", "--max-iters", "30", *BERT_TINY, *NO_GAIN,
                      cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert _stopped_at(tmp_path / "pre")[0] == 2 and "mlm perplexity " in done.stderr
    rows = [{"text": f"{w} sat", "label": str(i % 2)} for i, w in enumerate(WORDS)]
    (tmp_path / "d.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    done = run_minitx("finetune", "bert", "--task", "classify", "--data", "d.jsonl", "--init", "pre", "--out", "ft",
                      "--max-iters", "30", "--batch-size", "2", "--eval-interval", "1", "--no-progress", *NO_GAIN,
                      cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert _stopped_at(tmp_path / "ft")[0] == 2 and "macro f1 " in done.stderr


def test_a_negative_patience_is_refused_in_one_line(tmp_path):
    done = run_minitx("train", "gpt", "--early-stopping-patience", "-1", cwd=tmp_path)
    error_line(done, "--early-stopping-patience", "must be >= 0, got -1", usage=True)
