"""What a command does at the limits a user's run meets: inputs longer than the model,
answers past --max-length, data on stdin, a full disk, a model larger than memory.
Each drives `python -m minitx` in a subprocess (tests/cli_harness.py)."""
from types import SimpleNamespace

from tests.cli_harness import error_line, minitx, write_jsonl


def _finetune(runs, data, *args, task="qa"):
    return ["finetune", "bert", "--task", task, "--data", data, "--init", runs.bert, "--out", "ft",
            "--max-iters", "1", "--batch-size", "2", "--no-progress", *args]


def test_predict_warns_of_a_truncated_input_in_one_line_numbered_across_the_run(cli_runs, tmp_path):
    long = " ".join(["the cat sat"] * 20)
    done = minitx("predict", "fill-mask", "--model", cli_runs.bert, "the [MASK] sat", "a [MASK]",
                  f"[MASK] {long}", "--batch-size", "2", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines() == [
        "minitx: warning: fill-mask: input 3 is longer than the model's 16 tokens and was truncated"]
    assert len(done.stdout.splitlines()) == 3


def _qa_rows(words, filler):
    """Questions whose answer is the last word of a context that starts with `filler` words."""
    return [{"question": f"what {w} ?", "context": " ".join(["the cat sat"] * filler + ["on", w, "."]),
             "answer": w} for w in words]


def test_qa_with_every_answer_past_max_length_is_refused_up_front(cli_runs, tmp_path):
    data = write_jsonl(tmp_path / "qa.jsonl", _qa_rows(("mat", "dog", "park", "sun"), filler=10))
    done = minitx(*_finetune(cli_runs, data, "--val-fraction", "0.25"), cwd=tmp_path)
    # the note that the QA head is fresh comes first, as in every QA fine-tuning from a pretrained model
    assert done.stderr.startswith("note: BertForQuestionAnswering")
    error_line(SimpleNamespace(returncode=done.returncode, stderr=done.stderr.split("\n", 1)[1]),
               "--max-length 16", "every training answer (3 of 3)")
    assert not (tmp_path / "ft").exists()


def test_qa_with_some_answers_past_max_length_warns_with_a_count(cli_runs, tmp_path):
    rows = _qa_rows(("mat", "dog", "park"), filler=0) + _qa_rows(("sun", "rain"), filler=10)
    data = write_jsonl(tmp_path / "qa.jsonl", rows)
    done = minitx(*_finetune(cli_runs, data, "--val-data", write_jsonl(tmp_path / "val.jsonl", rows[:1])),
                  cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    warnings = [line for line in done.stderr.splitlines() if "warning" in line]
    assert warnings == ["minitx: warning: --max-length 16: 2 of 5 training answers lie past it and are ignored"]
