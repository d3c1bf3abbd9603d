"""What a command does at the limits a user's run meets: inputs longer than the model,
answers past --max-length, data on stdin, a full disk, a model larger than memory.
Each drives `python -m minitx` in a subprocess (tests/cli_harness.py)."""
import resource
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest

from tests.cli_harness import copy, environment, error_line, minitx, snapshot, write_jsonl


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


def _file_size_limit(limit):
    """A preexec_fn: the child may write no file past `limit` bytes. Python ignores
    SIGXFSZ, so such a write fails with EFBIG, as one on a full disk fails with ENOSPC."""
    return lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


def test_a_save_that_cannot_be_written_is_one_line_and_keeps_the_last_checkpoint(cli_runs, tmp_path):
    run = copy(cli_runs.gpt, tmp_path / "run")
    before = snapshot(run)
    limit = (run / "last" / "model.safetensors").stat().st_size + 1000   # the optimizer's file is larger
    done = subprocess.run([sys.executable, "-m", "minitx", "train", "gpt", "--resume", "--max-iters", "3",
                           "--no-progress", "--sample-tokens", "0", "--out", "run"], cwd=tmp_path,
                          env=environment(), capture_output=True, text=True, timeout=120,
                          preexec_fn=_file_size_limit(limit))
    line = error_line(SimpleNamespace(returncode=done.returncode, stderr=done.stderr.splitlines()[-1]),
                      f"cannot save checkpoint to {run}", ": file too large (about ", "bytes needed)")
    assert "Traceback" not in done.stderr
    after = snapshot(run)
    assert {k: v for k, v in after.items() if k not in ("metrics.jsonl", "report.html")} == \
           {k: v for k, v in before.items() if k not in ("metrics.jsonl", "report.html")}, line   # last/ and best/ as they were
    assert not list(run.glob(".*tmp*"))


def test_a_full_disk_during_a_save_names_it_and_removes_the_temporary_folder(tmp_path, monkeypatch):
    from safetensors import SafetensorError

    from minitx.nn import Linear
    from minitx.training import checkpoint
    model = Linear(8, 4)
    checkpoint.save_checkpoint(tmp_path / "last", model, {"model_type": "x"})
    before = snapshot(tmp_path)

    def full(*args, **kwargs):
        raise SafetensorError("Error while serializing: I/O error: No space left on device (os error 28)")
    monkeypatch.setattr(checkpoint, "save_file", full)
    with pytest.raises(checkpoint.CheckpointError) as caught:
        checkpoint.save_checkpoint(tmp_path / "last", model, {"model_type": "x"})
    needed = (8 * 4 + 4) * np.dtype(np.float32).itemsize
    assert str(caught.value) == (f"cannot save checkpoint to {tmp_path / 'last'}: no space left on device "
                                 f"(about {needed:,} bytes needed)")
    assert snapshot(tmp_path) == before


GPT_CONFIGS = [dict(), dict(bias=False), dict(tie_word_embeddings=False), dict(position="rotary"),
               dict(position="sinusoidal", n_inner=24), dict(n_layer=3, bias=False, tie_word_embeddings=False)]


@pytest.mark.parametrize("changes", GPT_CONFIGS)
def test_gpt_parameters_are_counted_from_the_config(changes):
    from minitx.models.gpt import GPT, GPTConfig
    from minitx.models.size import gpt_num_parameters
    config = GPTConfig(**{**dict(vocab_size=37, block_size=11, n_layer=2, n_head=2, n_embd=16), **changes})
    assert gpt_num_parameters(config) == GPT(config).num_parameters()


@pytest.mark.parametrize("changes", [dict(), dict(tie_word_embeddings=False), dict(type_vocab_size=3)])
def test_bert_parameters_are_counted_from_the_config(changes):
    from minitx.models.bert import BertConfig, BertForPreTraining
    from minitx.models.size import bert_pretraining_num_parameters
    config = BertConfig(**{**dict(vocab_size=37, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                                  intermediate_size=24, max_position_embeddings=11), **changes})
    assert bert_pretraining_num_parameters(config) == BertForPreTraining(config).num_parameters()


@pytest.mark.parametrize("command, size", [("gpt", ["--n-embd", "65536"]),
                                           ("bert", ["--hidden-size", "65536", "--val-fraction", "0.25"])])
def test_a_model_larger_than_memory_is_refused_before_it_is_built(cli_runs, tmp_path, command, size):
    """A model whose training cannot fit in memory is one line naming its parameters, the
    memory it needs and the memory available, not an allocator traceback or the OOM killer."""
    done = minitx("train", command, *size, "--max-iters", "1", "--no-progress", "--data",
                  cli_runs.text if command == "gpt" else cli_runs.docs, "--out", "run", cwd=tmp_path, timeout=60)
    line = error_line(done, " parameters take at least ", " GiB to train, more than the ", " of memory available")
    assert ("65536" in line) and not (tmp_path / "run").exists()


def test_running_out_of_memory_while_building_is_one_line(cli_runs, tmp_path):
    """A MemoryError (numpy's "Unable to allocate ...") that the estimate did not foresee is one line."""
    code = ("import sys, minitx.models.gpt as gpt\n"
            "def build(self, config): raise MemoryError('Unable to allocate 96.0 GiB for an array')\n"
            "gpt.GPT.__init__ = build\n"
            "from minitx.cli.app import main\n"
            f"sys.exit(main(['train', 'gpt', '--max-iters', '1', '--data', {str(cli_runs.text)!r}, '--out', 'run']))")
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=environment(), capture_output=True,
                          text=True, timeout=60)
    error_line(done, "minitx: error: out of memory: Unable to allocate 96.0 GiB")


def _piped(*args, stdin, cwd):
    """`python -m minitx ARGS` with `stdin` (bytes) on its standard input, through a pipe."""
    return subprocess.run([sys.executable, "-m", "minitx", *map(str, args)], input=stdin, cwd=cwd,
                          env=environment(), capture_output=True, timeout=120)


@pytest.mark.parametrize("name", ["-", "/dev/stdin"])
def test_training_data_can_come_from_standard_input(cli_runs, tmp_path, name):
    from tests.cli_harness import GPT_TINY
    text = cli_runs.text.read_bytes()
    done = _piped("train", "gpt", *GPT_TINY, "--max-iters", "1", "--data", name, "--out", "run", stdin=text,
                  cwd=tmp_path)
    assert done.returncode == 0, done.stderr.decode()
    assert f"data: {name}, {len(text):,} characters".encode() in done.stderr
    # a resume needs the data again: on standard input, given as --data -
    done = minitx("train", "gpt", "--resume", "--max-iters", "2", "--no-progress", "--out", "run", cwd=tmp_path)
    error_line(done, "--resume: this run read its --data from standard input; give it again (--data -)")
    done = _piped("train", "gpt", "--resume", "--max-iters", "2", "--no-progress", "--sample-tokens", "0",
                  "--data", "-", "--out", "run", stdin=text, cwd=tmp_path)
    assert done.returncode == 0, done.stderr.decode()
    assert b"resuming run at step 1 of 2" in done.stderr


def test_finetuning_and_predict_read_standard_input(cli_runs, tmp_path):
    rows = cli_runs.classify.read_bytes()
    done = _piped(*_finetune(cli_runs, "/dev/stdin", task="classify"), stdin=rows, cwd=tmp_path)
    assert done.returncode == 0, done.stderr.decode()
    done = _piped(*_finetune(cli_runs, "-", "--val-data", "-", "--overwrite", task="classify"), stdin=rows,
                  cwd=tmp_path)
    error_line(SimpleNamespace(returncode=done.returncode, stderr=done.stderr.decode()),
               "standard input can be read once", usage=False)
    done = _piped("predict", "text-classification", "--model", "ft", "--file", "-", "--no-progress",
                  stdin=rows, cwd=tmp_path)
    assert done.returncode == 0, done.stderr.decode()
    assert len(done.stdout.splitlines()) == len(rows.splitlines())
