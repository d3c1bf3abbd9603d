"""Training killed by SIGKILL, again and again, at random moments and at each stage of a
checkpoint save, and resumed each time: every resume works, metrics.jsonl holds each
step once and in order, and the run ends with the files of a run never killed, bit for
bit. The quick form kills 36 times; MINITX_KILLS=200 kills 200 times.

The kills come from tests/fault_job.py, the CLI with a SIGKILL at a chosen moment:
KILL_AFTER (a random time into training) or KILL_AT (a stage of a save, or a step)."""
import json
import os
import random
import subprocess
import sys
from pathlib import Path

from tests.cli_harness import GPT_TINY, WORDS, environment, minitx

KILLS = int(os.environ.get("MINITX_KILLS", "36"))
STAGES = ("files", "renaming", "swap", "swapped", "deleting", "step")
JOB = Path(__file__).resolve().parent / "fault_job.py"
# 16 steps, each evaluated and saved (best/ while the loss falls, then last/): saves are most of the time
RUN = ["train", "gpt", *GPT_TINY, "--max-iters", "16"]
VARYING = ("elapsed", "tokens_per_sec")   # timings: the only fields that differ between two runs


def records(run):
    """metrics.jsonl's records without their timings, each line checked to be whole."""
    lines = (run / "metrics.jsonl").read_text().split("\n")
    assert lines[-1] == "", f"{run}/metrics.jsonl ends in a torn line: {lines[-1]!r}"
    return [{k: v for k, v in json.loads(line).items() if k not in VARYING} for line in lines[:-1]]


def files(run):
    """The manifests of best/ and last/: every file's size and SHA-256."""
    return {name: json.loads((run / name / "checkpoint.json").read_text()) for name in ("best", "last")}


def killed_run(cwd, args, env):
    done = subprocess.run([sys.executable, str(JOB), *map(str, args)], cwd=cwd, env=environment(**env),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode in (0, -9), f"{args} {env}: exit {done.returncode}\n{done.stderr}"
    return done.returncode == -9


def has_last(run):
    """Whether a save of last/ has ever finished (the swap may be cut in half)."""
    return any((run / name / "checkpoint.json").exists() for name in ("last", ".last.old"))


def test_runs_killed_anywhere_resume_to_the_run_never_killed(tmp_path):
    rng = random.Random(0)
    data = tmp_path / "small.txt"
    data.write_text("".join(" ".join(rng.choice(WORDS) for _ in range(8)) + ".\n" for _ in range(24)))
    args = [*RUN, "--data", data]
    done = minitx(*args, "--out", "whole", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    whole = tmp_path / "whole"
    want_records, want_files = records(whole), files(whole)
    assert [r["step"] for r in want_records if r["event"] == "eval"] == list(range(17))
    seconds = json.loads((whole / "metrics.jsonl").read_text().splitlines()[-1])["elapsed"]

    run, kills, finished = tmp_path / "run", {}, 0
    # until KILLS kills, each kind among them; then the run in flight goes to its end unkilled
    while True:
        enough = sum(kills.values()) >= KILLS and len(kills) == len(STAGES) + 1
        if enough:
            kind, env = None, {}
        elif rng.random() < 0.5:   # a random moment: in a step, an evaluation, a save, a write
            kind, env = "after", {"KILL_AFTER": f"{rng.uniform(0, 1.5 * seconds):.4f}"}
        else:   # a stage of a save (of one of the first 6 this process makes), or a step
            kind = rng.choice(STAGES)
            env = {"KILL_AT": f"{kind}:{rng.randint(1, 17 if kind == 'step' else 6)}"}
        start = ["--resume"] if has_last(run) else ["--overwrite"]
        if killed_run(tmp_path, [*args, "--out", "run", *start], env):
            kills[kind] = kills.get(kind, 0) + 1
            continue
        assert records(run) == want_records, f"after {kills} kills"
        assert files(run) == want_files, f"after {kills} kills"
        if enough:
            break
        finished += 1   # a run that ended before its kill came: the next one starts afresh
        run.rename(tmp_path / f"finished-{finished}")


def test_resume_drops_the_records_past_its_checkpoint_and_a_torn_line(cli_runs, tmp_path):
    """Killed at step 25 of 30, last/ at step 15: metrics.jsonl holds train lines of steps
    16-24 (every 10th step: 20) that the resumed run takes again, and a line half written."""
    args = ["train", "gpt", *GPT_TINY, "--eval-interval", "15", "--max-iters", "30", "--data", cli_runs.text]
    done = minitx(*args, "--out", "whole", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert killed_run(tmp_path, [*args, "--out", "run"], {"KILL_AT": "step:25"})
    run = tmp_path / "run"
    assert json.loads((run / "last" / "trainer_state.json").read_text())["step"] == 15
    with open(run / "metrics.jsonl", "a") as f:
        f.write('{"event": "train", "st')
    assert killed_run(tmp_path, [*args, "--out", "run", "--resume"], {}) is False
    got = records(run)
    assert [(r["event"], r["step"]) for r in got] == [("eval", 0), ("train", 10), ("eval", 15), ("train", 20),
                                                      ("train", 30), ("eval", 30)]
    assert got == records(tmp_path / "whole") and files(run) == files(tmp_path / "whole")
