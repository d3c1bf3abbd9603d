"""Driving `python -m minitx` in subprocesses, for the tests of hostile input.

Each command runs in a fresh interpreter, with the folder it works in as its
working directory and this checkout first on PYTHONPATH, so a test sees exactly
what a user sees: the exit code, stdout and stderr. The NumPy backend keeps
the tiny runs free of compiling.
"""
import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parent.parent

# tiny models: a run of each takes about a second on a busy core
GPT_TINY = ["--n-layer", "1", "--n-head", "2", "--n-embd", "16", "--block-size", "8", "--batch-size", "2",
            "--eval-interval", "1", "--eval-iters", "1", "--sample-tokens", "0", "--no-progress"]
BERT_TINY = ["--hidden-size", "16", "--num-hidden-layers", "1", "--num-attention-heads", "2",
             "--intermediate-size", "16", "--max-length", "16", "--vocab-size", "100", "--batch-size", "2",
             "--eval-interval", "1", "--eval-iters", "1", "--val-fraction", "0.25", "--no-progress"]
WORDS = "the cat sat on a mat and dog ran to park with ball in sun rain fell over paris".split()


def environment(**changes):
    """os.environ with this checkout first on PYTHONPATH, the NumPy backend and no
    MINITX_DEBUG; `changes` set (or, given None, remove) more variables."""
    env = {k: v for k, v in os.environ.items() if k != "MINITX_DEBUG"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    env["MINITX_BACKEND"] = "numpy"
    for name, value in changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def minitx(*args, cwd, env=None, timeout=120):
    """`python -m minitx ARGS` run in `cwd`; the CompletedProcess (text stdout, stderr)."""
    return subprocess.run([sys.executable, "-m", "minitx", *map(str, args)], cwd=cwd, env=env or environment(),
                          capture_output=True, text=True, timeout=timeout)


def error_line(done, *names, usage=False):
    """The one line `done` wrote on stderr, checked to be a minitx error naming each of
    `names`: exit 1 and `minitx: error: `, or with usage=True also argparse's exit 2
    and `minitx COMMAND: error: `. No traceback, nothing else on stderr."""
    tail = done.stderr.strip().splitlines()[-1:] or [""]
    shown = f"exit {done.returncode}, stderr ends {tail[0]!r}; all of it:\n{done.stderr}"
    assert "Traceback" not in done.stderr, shown
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, shown
    line = lines[0]
    if usage and done.returncode == 2:
        assert line.startswith("minitx ") and ": error: " in line, shown
    else:
        assert done.returncode == 1 and line.startswith("minitx: error: "), shown
    for name in names:
        assert name in line, f"{name!r} not named in: {line}"
    return line


def snapshot(folder):
    """{path relative to folder: file bytes, None for a folder, ('link', target) for a
    symbolic link}: two snapshots are equal when nothing in the folder changed."""
    folder, seen = Path(folder), {}
    if not folder.exists():
        return seen
    for here, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = Path(here) / name
            rel = str(path.relative_to(folder))
            if path.is_symlink():
                seen[rel] = ("link", os.readlink(path))
            elif path.is_dir():
                seen[rel] = None
            else:
                seen[rel] = path.read_bytes()
    return seen


def copy(src, dst):
    """A copy of a run folder (links copied as links), returned as a Path."""
    shutil.copytree(src, dst, symlinks=True)
    return Path(dst)


def write_jsonl(path, rows):
    Path(path).write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows),
                          encoding="utf-8")
    return Path(path)


def rehash(checkpoint, name):
    """Record file `name`'s new size and SHA-256 in the checkpoint's manifest, as if minitx wrote it."""
    manifest = Path(checkpoint) / "checkpoint.json"
    data = json.loads(manifest.read_text())
    raw = (Path(checkpoint) / name).read_bytes()
    data["files"][name] = {"bytes": len(raw), "sha256": hashlib.sha256(raw).hexdigest()}
    manifest.write_text(json.dumps(data, indent=1))


def trainer_state(checkpoint):
    return json.loads((Path(checkpoint) / "trainer_state.json").read_text())


def build_runs(folder):
    """Data files, one tiny GPT run and one tiny BERT run (with its Hugging Face export)
    in `folder`; their paths in a namespace. Tests copy the runs before changing them."""
    folder = Path(folder)
    rng = random.Random(0)
    text = folder / "small.txt"  # 6 paragraphs of 4 lines of 8 words
    text.write_text("".join("".join(" ".join(rng.choice(WORDS) for _ in range(8)) + ".\n" for _ in range(4)) + "\n"
                            for _ in range(6)))
    docs = folder / "docs.txt"  # 12 documents: BERT holds out every 4th
    docs.write_text("".join("".join(" ".join(rng.choice(WORDS) for _ in range(8)) + ".\n" for _ in range(3)) + "\n"
                            for _ in range(12)))
    classify = write_jsonl(folder / "classify.jsonl",
                           [{"text": f"the cat sat {w}", "label": "ab"[i % 2]} for i, w in enumerate(WORDS[3:15])])
    runs = SimpleNamespace(root=folder, text=text, docs=docs, classify=classify,
                           gpt=folder / "gpt", bert=folder / "bert")
    for argv in (["train", "gpt", *GPT_TINY, "--max-iters", "2", "--data", text, "--out", runs.gpt],
                 ["train", "bert", *BERT_TINY, "--max-iters", "2", "--data", docs, "--out", runs.bert]):
        done = minitx(*argv, cwd=folder)
        assert done.returncode == 0, done.stderr
    runs.hf = runs.bert / "hf"
    return runs
