import json
import os
import subprocess
import sys

import pytest

from minitx.backend import use_backend
from minitx.training.checkpoint import load_checkpoint
from minitx.cli import main


@pytest.fixture(autouse=True)
def numpy_backend():
    # these tests check the training machinery, not the kernels (tested on their own): the
    # NumPy twins need no compiling and no thread pool, which keeps them fast on a busy machine
    with use_backend("numpy"):
        yield


TINY = ["--n-layer", "1", "--n-head", "2", "--n-embd", "16", "--block-size", "16", "--batch-size", "4",
        "--eval-interval", "2", "--eval-iters", "2", "--no-progress", "--sample-tokens", "20"]


@pytest.mark.parametrize("argv, expected", [
    ([], "train"),
    (["train", "gpt"], "--n-layer N_LAYER     transformer blocks (default: 4)"),
    (["sample"], "tokens to generate (default: 500)"),
    (["finetune", "bert"], "1e-05)"),   # --min-lr: a tenth of --lr's 1e-4, so the schedule decays
])
def test_help_shows_defaults(capsys, argv, expected):
    with pytest.raises(SystemExit) as e:
        main(argv + ["--help"])
    assert e.value.code == 0
    assert expected in capsys.readouterr().out


def test_python_dash_m():
    done = subprocess.run([sys.executable, "-m", "minitx", "--version"], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.startswith("minitx ")


def _error_line(capsys):
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


@pytest.mark.parametrize("argv, message", [
    (["train", "gpt", "--n-layer", "-1"], "argument --n-layer: must be a positive integer, got -1"),
    (["train", "gpt", "--block-size", "0"], "argument --block-size: must be a positive integer, got 0"),
    (["train", "gpt", "--batch-size", "two"], "argument --batch-size: expected an integer, got 'two'"),
    (["train", "gpt", "--dropout", "1.5"], r"argument --dropout: must be in [0, 1), got 1.5"),
    (["train", "gpt", "--lr", "nan"], "argument --lr: must be a finite number >= 0, got nan"),
    (["sample", "--ckpt", "x", "--top-p", "0"], "argument --top-p: must be in (0, 1], got 0"),
    (["train", "lstm"], "argument MODEL: invalid choice: 'lstm'"),
])
def test_bad_command_line_is_one_line_exit_2(capsys, argv, message):
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    assert message in _error_line(capsys)


def test_bad_values_are_one_line_exit_1(capsys, tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"fine text \xc3\x28 here")
    cases = [
        (["train", "gpt", "--n-embd", "30", "--n-head", "4"], "--n-embd 30 is not divisible by --n-head 4"),
        (["train", "gpt", "--data", str(tmp_path / "missing.txt")], "missing.txt: no such file"),
        (["train", "gpt", "--data", str(bad), "--out", str(tmp_path / "o")], "bad.txt:1: invalid UTF-8 (byte 0xc3 at offset 10"),
        (["train", "gpt", "--max-iters", "5", "--warmup", "5"], "--warmup 5 must be less than --max-iters 5"),
        (["train", "gpt", "--resume", "--out", str(tmp_path / "none")], "holds no checkpoint to continue"),
        (["sample", "--ckpt", str(tmp_path / "none")], "no such checkpoint folder"),
    ]
    for argv, message in cases:
        assert main(argv) == 1, argv
        line = _error_line(capsys)
        assert line.startswith("minitx: error: ") and message in line, (argv, line)


def test_train_sample_resume(capsys, tmp_path):
    out = str(tmp_path / "run")
    assert main(["train", "gpt", "--out", out, "--max-iters", "3", *TINY]) == 0
    captured = capsys.readouterr()
    assert "step 0: val loss" in captured.err and "step 3: val loss" in captured.out
    assert "o validation loss" in captured.out and "---- sample ----" in captured.out
    records = [json.loads(line) for line in open(os.path.join(out, "metrics.jsonl"))]
    assert [r["step"] for r in records if r["event"] == "eval"] == [0, 2, 3]

    assert main(["sample", "--ckpt", out, "--prompt", "The ", "--max-new-tokens", "12", "--seed", "3"]) == 0
    captured = capsys.readouterr()
    text = captured.out.rstrip("\n")
    assert text.startswith("The ") and len(text) == 16
    assert "seed 3" in captured.err and "The " not in captured.err
    main(["sample", "--ckpt", os.path.join(out, "last"), "--prompt", "The ", "--max-new-tokens", "12", "--seed", "3"])
    assert capsys.readouterr().out.rstrip("\n") == text  # best/ is the step-3 model too

    # a second fresh run would replace the first: refused unless asked for
    assert main(["train", "gpt", "--out", out, "--max-iters", "3", *TINY]) == 1
    assert "already holds a run" in _error_line(capsys)
    assert main(["train", "gpt", "--out", out, "--resume", "--max-iters", "5", *TINY[-5:]]) == 0
    assert "resuming" in capsys.readouterr().err
    assert load_checkpoint(os.path.join(out, "last")).trainer_state["step"] == 5
    assert main(["train", "gpt", "--out", out, "--resume", *TINY[-5:]]) == 0  # max_iters 5 reached
    assert "nothing to do" in capsys.readouterr().err
    assert main(["train", "gpt", "--out", out, "--resume", "--n-embd", "32"]) == 1
    assert "--n-embd 32 differs from the checkpoint's 16" in _error_line(capsys)


def test_resume_with_a_larger_max_iters_decays_on_without_a_jump(tmp_path, capsys):
    """A finished run resumed with a larger --max-iters goes on at its last rate (here the
    floor), where the new schedule alone would jump back up to 8.9e-3 at step 10."""
    out = str(tmp_path / "run")
    lrs = ["--lr", "1e-2", "--min-lr", "1e-4", "--warmup", "1"]
    assert main(["train", "gpt", "--out", out, "--max-iters", "6", *lrs, *TINY]) == 0
    assert main(["train", "gpt", "--out", out, "--resume", "--max-iters", "12", *TINY[-5:]]) == 0
    assert "the learning rate decays on from 0.0001 at step 6" in capsys.readouterr().err
    with open(os.path.join(out, "metrics.jsonl")) as f:
        rate = {r["step"]: r["lr"] for r in map(json.loads, f) if "lr" in r}
    assert rate[10] == pytest.approx(1e-4)
    assert load_checkpoint(os.path.join(out, "last")).config["train"]["decay_from_step"] == 6
    # shortening below the step reached is refused in one line
    assert main(["train", "gpt", "--out", out, "--resume", "--max-iters", "8", *TINY[-5:]]) == 1
    assert "already at step 12" in _error_line(capsys)


def test_extended_schedule_is_continuous_at_the_resume_step():
    from minitx.training.trainer import TrainConfig
    cfg = TrainConfig(max_iters=100, lr=1e-3, min_lr=1e-5, warmup_iters=10)
    longer = cfg.extended_to(300, 40)
    assert longer.lr_at(40) == cfg.lr_at(40)
    assert longer.lr_at(41) < longer.lr_at(40) and longer.lr_at(41) == pytest.approx(cfg.lr_at(40), rel=1e-3)
    assert longer.lr_at(300) == pytest.approx(1e-5) and cfg.lr_at(100) == pytest.approx(1e-5)
    assert TrainConfig.from_dict(longer.to_dict(), "x") == longer
    during_warmup = cfg.extended_to(300, 4)   # the same warmup, then the cosine to the new end
    assert [during_warmup.lr_at(s) for s in range(11)] == [cfg.lr_at(s) for s in range(11)]
    assert during_warmup.lr_at(155) == pytest.approx((1e-3 + 1e-5) / 2, rel=1e-6)
    cut_short = cfg.extended_to(7, 4)      # an end inside the warmup: the cosine from where it is
    assert cut_short.lr_at(4) == cfg.lr_at(4) and cut_short.lr_at(7) == pytest.approx(1e-5)


def test_loss_chart_places_points():
    from minitx.training.plot import loss_chart
    records = [{"event": "eval", "step": 0, "val_loss": 4.0}, {"event": "train", "step": 5, "loss": 3.0},
               {"event": "eval", "step": 10, "val_loss": 2.0}]
    lines = loss_chart(records, width=11, height=3).splitlines()
    assert lines[0] == "   4.000 |o          "
    assert lines[1] == "   3.000 |     .     "
    assert lines[2] == "   2.000 |          o"
    assert lines[4].split() == ["0", "10"]
