"""The signals a scheduler or a terminal sends a training command end it with last/
saved and one line, and `--resume` continues from there: SIGINT (Ctrl-C), SIGTERM
(timeout, docker stop, Slurm), SIGHUP (a closed terminal), SIGUSR1 (Slurm's --signal).
Beside them, what else ends a command early: a busy or nested --out, a reader that
goes away, a bad --out or input file named in one line before any work."""
import json
import signal
import subprocess
import sys
import time

import pytest

from tests.cli_harness import GPT_TINY, environment, minitx


def _started(cwd, *args):
    return subprocess.Popen([sys.executable, "-m", "minitx", *args], cwd=cwd, env=environment(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for_steps(metrics, n, proc, timeout=120):
    """Until metrics.jsonl records a train step >= n (the run is in its loop)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        if metrics.exists():
            steps = [json.loads(line).get("step", 0) for line in metrics.read_text().splitlines() if line.strip()]
            if any(s >= n for s in steps):
                return
        time.sleep(0.05)
    raise AssertionError(f"no step {n} in {metrics} after {timeout} s")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1, signal.SIGINT],
                         ids=lambda s: s.name)
def test_a_stop_signal_saves_last_and_resume_continues(tmp_path, signum):
    proc = _started(tmp_path, "train", "gpt", "--max-iters", "100000", "--out", "run", *GPT_TINY)
    _wait_for_steps(tmp_path / "run" / "metrics.jsonl", 2, proc)
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert f"{signum.name}: finishing this step, then saving" in err
    assert "interrupted: saved step" in err and "Traceback" not in err
    state = json.loads((tmp_path / "run" / "last" / "trainer_state.json").read_text())
    step = state["step"]
    assert step >= 2
    done = minitx("train", "gpt", "--resume", "--max-iters", step + 1, "--out", "run", "--no-progress",
                  "--sample-tokens", "0", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert f"resuming run at step {step} of {step + 1}" in done.stderr
    assert json.loads((tmp_path / "run" / "last" / "trainer_state.json").read_text())["step"] == step + 1


def test_a_second_run_on_a_busy_out_is_refused_in_one_line(tmp_path):
    """One writer per run folder: an advisory lock on --out, which the OS releases when the
    process ends (so a killed run leaves no stale lock behind)."""
    from tests.cli_harness import error_line
    proc = _started(tmp_path, "train", "gpt", "--max-iters", "100000", "--out", "run", *GPT_TINY)
    try:
        _wait_for_steps(tmp_path / "run" / "metrics.jsonl", 1, proc)
        for extra in (["--resume"], ["--overwrite"]):
            done = minitx("train", "gpt", "--max-iters", "3", "--out", "run", *extra, *GPT_TINY, cwd=tmp_path)
            error_line(done, "another minitx run is writing there")
    finally:
        proc.kill()
        proc.communicate()
    # killed (perhaps inside a save): its lock went with it
    done = minitx("train", "gpt", "--overwrite", "--max-iters", "1", "--out", "run", *GPT_TINY, cwd=tmp_path)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("inner", ["best", "last", "last/sub"])
def test_out_inside_a_checkpoint_is_refused(tmp_path, inner):
    """The outer run's next save replaces its checkpoint folder whole, a nested run with it."""
    from tests.cli_harness import error_line
    done = minitx("train", "gpt", "--max-iters", "2", "--out", "run", *GPT_TINY, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    for extra in ([], ["--overwrite"]):
        done = minitx("train", "gpt", "--max-iters", "2", "--out", f"run/{inner}", *extra, *GPT_TINY, cwd=tmp_path)
        error_line(done, "a checkpoint folder of another run")
    assert not (tmp_path / "run" / "last" / "sub").exists()


def test_a_stale_old_folder_beside_its_checkpoint_does_not_block_resume(tmp_path):
    """A kill during a save's last step (deleting the checkpoint it replaced) leaves
    .last.old without its manifest beside a whole last/; --resume goes on."""
    done = minitx("train", "gpt", "--max-iters", "2", "--out", "run", *GPT_TINY, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    stale = tmp_path / "run" / ".last.old"
    stale.mkdir()
    (stale / "model.safetensors").write_bytes(b"half deleted")
    done = minitx("train", "gpt", "--resume", "--max-iters", "3", "--out", "run", *GPT_TINY[-3:], cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert not stale.exists()   # the save removed it


def test_a_reader_that_goes_away_ends_the_command_quietly(tmp_path):
    """`minitx predict ... | head -1`: no "Broken pipe" message, no traceback."""
    from minitx.models.gpt import GPT, GPTConfig
    from minitx.tokenizers import CharTokenizer
    from minitx.training.checkpoint import save_checkpoint
    tok = CharTokenizer.train("the cat sat\n")
    gpt = GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=16, n_layer=1, n_head=1, n_embd=8))
    save_checkpoint(tmp_path / "gpt", gpt, {"model_type": "gpt", "model": gpt.config.to_dict()}, tokenizer=tok)
    (tmp_path / "in.jsonl").write_text('{"text": "the"}\n' * 2000)
    cmd = (f"{sys.executable} -m minitx predict text-generation --model gpt --file in.jsonl --no-progress "
           f"--max-new-tokens 2 --batch-size 1 | head -1")
    done = subprocess.run(["bash", "-c", "set -o pipefail; " + cmd], cwd=tmp_path, env=environment(),
                          capture_output=True, text=True, timeout=300)
    assert done.stdout.count("\n") == 1 and done.stderr == "", done.stderr
    assert done.returncode == 141


@pytest.mark.parametrize("out, message", [("", "--out is empty"), ("a-file", "is a file, not a folder")])
def test_a_bad_out_is_one_line_before_any_work(tmp_path, out, message):
    from tests.cli_harness import error_line
    (tmp_path / "a-file").write_text("x")
    done = minitx("train", "gpt", "--max-iters", "1", "--out", out, *GPT_TINY, cwd=tmp_path)
    error_line(done, message)


def test_predict_names_the_line_of_invalid_utf8(tmp_path):
    from tests.cli_harness import error_line
    (tmp_path / "in.jsonl").write_bytes(b'{"text": "fine"}\n{"text": "caf\xe9"}\n')
    done = minitx("predict", "fill-mask", "--model", "nowhere", "--file", "in.jsonl", cwd=tmp_path)
    error_line(done, "in.jsonl:2: not valid UTF-8 (byte 0xe9 at column 14)")
