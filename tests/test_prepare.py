"""`minitx prepare` and `train gpt --data corpus.bin`, driven as a user drives them: a
prepared corpus trains the model its text trains, resumes, is refused when moved, changed,
damaged or too small (one line each), and keeps memory flat as the corpus grows.
See tests/cli_harness.py for the helpers."""
import json
import os
import random
import re
import subprocess
import sys

import numpy as np
import pytest

from tests.cli_harness import GPT_TINY, WORDS, environment, error_line, minitx


def _text(n_lines, seed=0):
    rng = random.Random(seed)
    return "".join(" ".join(rng.choice(WORDS) for _ in range(8)) + ".\n" for _ in range(n_lines))


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """small.txt (a few KB of words) and its prepared corpus small.bin."""
    folder = tmp_path_factory.mktemp("prepare")
    (folder / "small.txt").write_text(_text(120))
    done = minitx("prepare", "--data", "small.txt", "--out", "small.bin", "--no-progress", cwd=folder)
    assert done.returncode == 0, done.stderr
    return folder


def _train(cwd, data, out, *args):
    return minitx("train", "gpt", *GPT_TINY, "--max-iters", "3", "--data", data, "--out", out, *args, cwd=cwd)


def _losses(run):
    rows = [json.loads(line) for line in open(run / "metrics.jsonl")]
    return [(r["step"], r["train_loss"], r["val_loss"]) for r in rows if r["event"] == "eval"]


def test_prepare_says_what_it_wrote(folder):
    done = minitx("prepare", "--data", "small.txt", "small.txt", "--out", "twice.bin", "--no-progress",
                  "--val-fraction", "0.25", cwd=folder)
    assert done.returncode == 0, done.stderr
    text = (folder / "small.txt").read_text()
    chars = 2 * len(text)
    assert done.stderr.strip() == (f"twice.bin: {chars:,} tokens (uint16, vocab {len(set(text))}) from {chars:,} characters in "
                                   f"2 files; validation: the last {int(chars * 0.25):,} tokens")


@pytest.mark.parametrize("tokenizer", ["char", "bpe:300"])
def test_a_prepared_corpus_trains_as_its_text_does(folder, tokenizer):
    """The same ids, split and batches: the losses of the two runs are equal."""
    assert minitx("prepare", "--data", "small.txt", "--out", f"{tokenizer}.bin", "--tokenizer", tokenizer,
                  "--no-progress", cwd=folder).returncode == 0
    prepared = _train(folder, f"{tokenizer}.bin", f"run-{tokenizer}-bin")
    text = _train(folder, "small.txt", f"run-{tokenizer}-txt", "--tokenizer", tokenizer)
    assert prepared.returncode == 0 and text.returncode == 0, prepared.stderr + text.stderr
    assert f"data: {tokenizer}.bin, " in prepared.stderr and " prepared tokens, vocab " in prepared.stderr
    assert len(_losses(folder / f"run-{tokenizer}-bin")) == 4
    assert _losses(folder / f"run-{tokenizer}-bin") == _losses(folder / f"run-{tokenizer}-txt")


def test_a_resumed_run_continues_as_the_run_on_its_text_does(folder, tmp_path):
    """Two steps, then --resume to four: the same losses on the prepared corpus as on its text."""
    (tmp_path / "c.bin").write_bytes((folder / "small.bin").read_bytes())
    (tmp_path / "c.txt").write_text((folder / "small.txt").read_text())
    for data in ("c.bin", "c.txt"):
        assert _train(tmp_path, data, f"run-{data}", "--max-iters", "2").returncode == 0
        done = minitx("train", "gpt", "--resume", "--out", f"run-{data}", "--max-iters", "4", "--no-progress",
                      "--sample-tokens", "0", cwd=tmp_path)
        assert done.returncode == 0, done.stderr
    assert len(_losses(tmp_path / "run-c.bin")) == 5
    assert _losses(tmp_path / "run-c.bin") == _losses(tmp_path / "run-c.txt")


def test_a_moved_corpus_is_named_and_found_again_with_data(folder, tmp_path):
    (tmp_path / "c.bin").write_bytes((folder / "small.bin").read_bytes())
    assert _train(tmp_path, "c.bin", "run", "--max-iters", "2").returncode == 0
    os.rename(tmp_path / "c.bin", tmp_path / "moved.bin")
    resume = ["train", "gpt", "--resume", "--out", "run", "--max-iters", "3", "--no-progress", "--sample-tokens", "0"]
    error_line(minitx(*resume, cwd=tmp_path), str(tmp_path / "c.bin"), "is missing", "pass its new path with --data")
    done = minitx(*resume, "--data", "moved.bin", cwd=tmp_path)
    assert done.returncode == 0, done.stderr


def test_a_changed_corpus_or_another_kind_of_data_is_refused_on_resume(folder, tmp_path):
    (tmp_path / "c.bin").write_bytes((folder / "small.bin").read_bytes())
    (tmp_path / "other.txt").write_text(_text(120, seed=1))
    assert _train(tmp_path, "c.bin", "run", "--max-iters", "2").returncode == 0
    assert _train(tmp_path, "other.txt", "text-run", "--max-iters", "2").returncode == 0
    assert minitx("prepare", "--data", "other.txt", "--out", "c.bin", "--overwrite", "--no-progress",
                  cwd=tmp_path).returncode == 0
    resume = ["train", "gpt", "--resume", "--max-iters", "3", "--no-progress"]
    error_line(minitx(*resume, "--out", "run", cwd=tmp_path), "c.bin: the file changed after the run began")
    error_line(minitx(*resume, "--out", "run", "--data", "other.txt", cwd=tmp_path),
               "--data other.txt: its content (SHA-256", "differs from the file the run began with")
    error_line(minitx(*resume, "--out", "text-run", "--data", "c.bin", cwd=tmp_path),
               "--data c.bin: its content (SHA-256", "differs from the file the run began with")


@pytest.mark.parametrize("option, message", [
    (["--tokenizer", "bpe:300"], "--tokenizer bpe:300: small.bin was prepared with --tokenizer char"),
    (["--val-fraction", "0.2"], "--val-fraction 0.2: small.bin holds out 0.1"),
    (["--block-size", "2000"], "--data small.bin: TokenDataset: the val split has 404 tokens, fewer than block_size + 1 = 2001"),
])
def test_an_option_the_corpus_settles_or_cannot_meet_is_one_line(folder, option, message):
    error_line(_train(folder, "small.bin", "refused", *option), message)
    assert not (folder / "refused").exists()


def test_the_options_the_corpus_settles_may_be_repeated(folder):
    done = _train(folder, "small.bin", "repeated", "--tokenizer", "char", "--val-fraction", "0.1",
                  "--max-iters", "1")
    assert done.returncode == 0, done.stderr


def test_init_with_another_tokenizer_is_refused(folder):
    assert _train(folder, "small.txt", "init-run", "--max-iters", "1").returncode == 0
    (folder / "other.txt").write_text("zyx wvu\n" * 200)
    assert minitx("prepare", "--data", "other.txt", "--out", "other.bin", "--no-progress",
                  cwd=folder).returncode == 0
    done = minitx("train", "gpt", "--init", "init-run", "--data", "other.bin", "--out", "init-refused",
                  "--max-iters", "1", "--no-progress", cwd=folder)
    error_line(done, "--init init-run: its tokenizer is not the one other.bin was prepared with")


def _bin(folder, tmp_path, change):
    raw = (folder / "small.bin").read_bytes()
    (tmp_path / "c.bin").write_bytes(change(raw))
    return "c.bin"


@pytest.mark.parametrize("change, message", [
    (lambda raw: raw[:-2], "truncated or damaged"),
    (lambda raw: raw[:20], "too short for its"),
    (lambda raw: re.sub(rb'"tokens": 4045,', b'"tokens": 4044,', raw, count=1), "truncated or damaged"),
    (lambda raw: raw[:-2] + bytes([raw[-2] ^ 1]) + raw[-1:], "do not match the header's sha256"),
], ids=["truncated", "header cut", "header's count", "a changed id"])
def test_a_damaged_corpus_is_one_line(folder, tmp_path, change, message):
    error_line(_train(tmp_path, _bin(folder, tmp_path, change), "run"), "c.bin", message)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("setup, argv, names", [
    (None, ["--data", "missing.txt", "--out", "c.bin"], ["--data missing.txt: no such file"]),
    ({"empty.txt": ""}, ["--data", "empty.txt", "--out", "c.bin"], ["--data empty.txt: empty"]),
    ({"bom.txt": "\ufeff"}, ["--data", "bom.txt", "--out", "c.bin"], ["--data bom.txt: no text to prepare"]),
    ({"a.txt": "abc\n", "c.bin": "x"}, ["--data", "a.txt", "--out", "c.bin"], ["--out c.bin: exists", "--overwrite"]),
    ({"a.txt": "abc\n"}, ["--data", "a.txt", "--out", "a.txt", "--overwrite"], ["is one of the --data files"]),
    ({"a.txt": "abc\n", "d/x": ""}, ["--data", "a.txt", "--out", "d"], ["--out d: is a folder"]),
    ({"bad.txt": b"ok\n\xc3(\n"}, ["--data", "bad.txt", "--out", "c.bin"], ["bad.txt:2: invalid UTF-8"]),
    ({"a.txt": "abc\n"}, ["--data", "a.txt", "--out", "c.bin", "--tokenizer", "bpe:12"], ["bpe:N needs N >= 257"]),
], ids=["missing", "empty", "only a BOM", "out exists", "out is data", "out is a folder", "bad UTF-8", "bad bpe"])
def test_bad_input_to_prepare_is_one_line_and_writes_nothing(tmp_path, setup, argv, names):
    for name, content in (setup or {}).items():
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_bytes(content if isinstance(content, bytes) else content.encode())
    before = sorted(p.name for p in tmp_path.rglob("*"))
    error_line(minitx("prepare", *argv, "--no-progress", cwd=tmp_path), *names)
    assert sorted(p.name for p in tmp_path.rglob("*")) == before


# ---- memory ----------------------------------------------------------------------------------

def _peak_rss_mb(argv, cwd):
    """Peak resident memory (MB) of `python -m minitx ARGV`, from the kernel's account of that child."""
    with open(cwd / "stderr.txt", "w") as err:
        child = subprocess.Popen([sys.executable, "-m", "minitx", *argv], cwd=cwd, env=environment(),
                                 stdout=subprocess.DEVNULL, stderr=err)
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    assert child.returncode == 0, (cwd / "stderr.txt").read_text()
    return usage.ru_maxrss / 1024   # KB on Linux


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="ru_maxrss in KB and os.wait4: Linux")
def test_a_hundred_times_the_corpus_trains_in_the_same_memory(tmp_path):
    """A 60 MB prepared corpus trains with peak memory within 40 MB of a 0.6 MB one: batches
    read their windows through a map dropped after each, so no run keeps the corpus."""
    from minitx.data.token_file import write_token_file
    from minitx.tokenizers import CharTokenizer
    tokenizer = CharTokenizer(chr(ord("a") + i) for i in range(26))
    rng = np.random.default_rng(0)
    for name, tokens in (("small.bin", 300_000), ("big.bin", 30_000_000)):   # uint16: 0.6 MB and 60 MB
        blocks = ((ids, len(ids)) for ids in (rng.integers(0, 26, tokens // 10, dtype=np.uint16) for _ in range(10)))
        write_token_file(tmp_path / name, blocks, tokenizer, 0.1, "char")
    argv = ["train", "gpt", "--n-layer", "1", "--n-head", "2", "--n-embd", "32", "--max-iters", "10",
            "--eval-interval", "5", "--eval-iters", "2", "--sample-tokens", "0", "--no-progress"]
    small = _peak_rss_mb([*argv, "--data", "small.bin", "--out", "small"], tmp_path)
    big = _peak_rss_mb([*argv, "--data", "big.bin", "--out", "big"], tmp_path)
    assert big - small < 40, f"peak {big:.0f} MB on 60 MB of ids, {small:.0f} MB on 0.6 MB"
