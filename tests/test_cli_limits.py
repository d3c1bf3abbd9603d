"""What a command does at the limits a user's run meets: inputs longer than the model,
answers past --max-length, data on stdin, a full disk, a model larger than memory.
Each drives `python -m minitx` in a subprocess (tests/cli_harness.py)."""
from tests.cli_harness import minitx


def test_predict_warns_of_a_truncated_input_in_one_line_numbered_across_the_run(cli_runs, tmp_path):
    long = " ".join(["the cat sat"] * 20)
    done = minitx("predict", "fill-mask", "--model", cli_runs.bert, "the [MASK] sat", "a [MASK]",
                  f"[MASK] {long}", "--batch-size", "2", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines() == [
        "minitx: warning: fill-mask: input 3 is longer than the model's 16 tokens and was truncated"]
    assert len(done.stdout.splitlines()) == 3
