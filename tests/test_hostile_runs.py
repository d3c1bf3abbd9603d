"""Hostile states of a run folder: a crash mid-save, a folder minitx did not
write, damaged or edited checkpoints, a run of the other model. Each is refused with
one line `minitx: error: ...` naming what is wrong, before anything in --out changes.

The runs are tiny ones the `cli_runs` fixture trains once (tests/conftest.py); each
test copies what it changes. See tests/cli_harness.py for the helpers.
"""
import json
import os
import shutil

import pytest

from tests.cli_harness import GPT_TINY, copy, error_line, minitx, rehash, snapshot, trainer_state


def _train_gpt(runs, cwd, *args):
    return minitx("train", "gpt", *GPT_TINY, "--max-iters", "2", "--data", runs.text, *args, cwd=cwd)


def _resume_gpt(cwd, *args):
    """`train gpt --resume` of the run in cwd/run."""
    return minitx("train", "gpt", "--resume", "--no-progress", "--sample-tokens", "0", "--out", "run", *args,
                  cwd=cwd)


# ---- a fresh run never replaces what it cannot see --------------------------------------

@pytest.mark.parametrize("left", [(".last.old",), (".best.old",), (".last.old", ".best.old")],
                         ids=[".last.old", ".best.old", "both"])
def test_a_save_cut_between_its_renames_still_holds_a_run(cli_runs, tmp_path, left):
    """A crash between the two renames of a save leaves .last.old or .best.old as the
    only copy; a fresh run sees it as a run."""
    run = copy(cli_runs.gpt, tmp_path / "run")
    for name in ("last", "best"):
        if f".{name}.old" in left:
            os.rename(run / name, run / f".{name}.old")
        else:
            shutil.rmtree(run / name)
    before = snapshot(run)
    error_line(_train_gpt(cli_runs, tmp_path, "--out", "run"), "already holds a run")
    assert snapshot(run) == before


@pytest.mark.parametrize("layout", ["foreign best", "no manifest"])
@pytest.mark.parametrize("overwrite", [[], ["--overwrite"]])
def test_a_folder_minitx_did_not_write_is_refused_before_writing(cli_runs, tmp_path, layout, overwrite):
    """A best/ that is not a minitx checkpoint, or checkpoint folders without their
    manifest, are refused before metrics.jsonl is touched, and
    --overwrite does not destroy them either."""
    if layout == "foreign best":
        run = tmp_path / "run"
        (run / "best").mkdir(parents=True)
        (run / "best" / "notes.txt").write_text("my best results\n")
        (run / "metrics.jsonl").write_text("my own metrics\n")
    else:
        run = copy(cli_runs.gpt, tmp_path / "run")
        for name in ("last", "best"):
            (run / name / "checkpoint.json").unlink()
    before = snapshot(run)
    line = error_line(_train_gpt(cli_runs, tmp_path, "--out", "run", *overwrite))
    assert os.path.join("run", "best") in line or os.path.join("run", "last") in line, line
    assert snapshot(run) == before


def test_resume_and_overwrite_together_are_refused(cli_runs, tmp_path):
    """--resume with --overwrite is refused: the two contradict each other."""
    run = copy(cli_runs.gpt, tmp_path / "run")
    before = snapshot(run)
    done = _resume_gpt(tmp_path, "--overwrite", "--max-iters", "3")
    error_line(done, "--resume", "--overwrite", usage=True)
    assert snapshot(run) == before


@pytest.mark.parametrize("command, stored", [("gpt", "bert"), ("bert", "gpt")])
def test_resuming_a_run_of_the_other_model_is_refused(cli_runs, tmp_path, command, stored):
    """`train gpt --resume` on a BERT run (and the reverse) is refused in one line, not
    a TypeError."""
    run = copy(getattr(cli_runs, stored), tmp_path / "run")
    before = snapshot(run)
    done = minitx("train", command, "--resume", "--max-iters", "3", "--no-progress", "--out", "run", cwd=tmp_path)
    error_line(done, os.path.join("run", "last"), stored)
    assert snapshot(run) == before


@pytest.mark.parametrize("command", ["gpt", "bert", "finetune"])
def test_arguments_are_checked_before_the_state_of_out(cli_runs, tmp_path, command):
    """Arguments are validated before the state of --out is examined: a bad --warmup in a folder that holds the default runs/gpt (or runs/bert, or an --out that
    holds a run) fails on the warmup, not on "already holds a run"."""
    bad = ["--max-iters", "5", "--warmup", "5"]
    if command == "finetune":
        held = copy(cli_runs.gpt, tmp_path / "ft")
        argv = ["finetune", "bert", "--task", "classify", "--data", cli_runs.classify, "--init", cli_runs.bert,
                "--out", "ft", *bad]
    else:
        held = copy(getattr(cli_runs, command), tmp_path / "runs" / command)
        argv = ["train", command, *bad]
    before = snapshot(held)
    error_line(minitx(*argv, cwd=tmp_path), "--warmup 5 must be less than --max-iters 5")
    assert snapshot(held) == before


# ---- damaged or edited checkpoints ---------------------------------------------------------

def _no_bytes(manifest):
    del manifest["files"]["model.safetensors"]["bytes"]


def _files_as_a_list(manifest):
    manifest["files"] = sorted(manifest["files"])


def _no_files(manifest):
    del manifest["files"]


def _entry_removed(manifest):
    del manifest["files"]["model.safetensors"]


@pytest.mark.parametrize("damage, named", [(_no_bytes, "checkpoint.json"), (_files_as_a_list, "checkpoint.json"),
                                           (_no_files, "checkpoint.json"), (_entry_removed, "model.safetensors")],
                         ids=["no bytes", "files a list", "no files", "entry removed"])
def test_a_damaged_manifest_is_one_line_and_every_loaded_file_is_verified(cli_runs, tmp_path, damage, named):
    """A manifest without `bytes`, with `files` a list or without `files`, is refused in
    one line (not a KeyError or AttributeError), and so is a file whose entry was
    deleted, which must not load unverified (here the weights are also changed)."""
    last = copy(cli_runs.gpt, tmp_path / "run") / "last"
    manifest = json.loads((last / "checkpoint.json").read_text())
    damage(manifest)
    (last / "checkpoint.json").write_text(json.dumps(manifest))
    if damage is _entry_removed:
        raw = bytearray((last / "model.safetensors").read_bytes())
        raw[-1] ^= 0x40  # a bit of the last weight: the file still parses
        (last / "model.safetensors").write_bytes(bytes(raw))
    done = minitx("sample", "--ckpt", last, "--max-new-tokens", "2", "--seed", "0", cwd=tmp_path)
    error_line(done, str(last), named)


_DELETE = object()


def _set(path, value):
    """An edit of a JSON object: the key at `path` set to `value`, or deleted (_DELETE)."""
    def edit(obj):
        *parents, key = path
        for p in parents:
            obj = obj[p]
        if value is _DELETE:
            del obj[key]
        else:
            obj[key] = value
    return edit


# (file, edit, what the error must name besides the file: the key, or for a model that no
# longer fits its weights, the weights file)
_EDITS = {
    "config: no train": ("config.json", _set(["train"], _DELETE), "train"),
    "config: no data": ("config.json", _set(["data"], _DELETE), "data"),
    "config: no model": ("config.json", _set(["model"], _DELETE), "model"),
    "config: lr a string": ("config.json", _set(["train", "lr"], "0.002"), "lr"),
    "config: unknown train key": ("config.json", _set(["train", "bogus"], 1), "bogus"),
    "config: n_layer a string": ("config.json", _set(["model", "n_layer"], "1"), "n_layer"),
    "config: n_embd unlike the weights": ("config.json", _set(["model", "n_embd"], 32), "model.safetensors"),
    "config: val_fraction a string": ("config.json", _set(["data", "val_fraction"], "x"), "val_fraction"),
    "state: no step": ("trainer_state.json", _set(["step"], _DELETE), "step"),
    "state: step a string": ("trainer_state.json", _set(["step"], "2"), "step"),
    "state: no best_val_loss": ("trainer_state.json", _set(["best_val_loss"], _DELETE), "best_val_loss"),
    "state: tokens_seen null": ("trainer_state.json", _set(["tokens_seen"], None), "tokens_seen"),
    "state: rng empty": ("trainer_state.json", _set(["rng"], {}), "rng"),
    "state: data empty": ("trainer_state.json", _set(["data"], {}), "data"),
}


@pytest.mark.parametrize("case", list(_EDITS))
def test_an_edited_and_rehashed_checkpoint_is_one_line_on_resume(cli_runs, tmp_path, case):
    """config.json or trainer_state.json edited and re-hashed (so the manifest check
    passes): --resume fails with one line naming the file and the key, not a KeyError,
    TypeError or RuntimeError traceback, and before anything in --out is written."""
    name, edit, key = _EDITS[case]
    run = copy(cli_runs.gpt, tmp_path / "run")
    data = json.loads((run / "last" / name).read_text())
    edit(data)
    (run / "last" / name).write_text(json.dumps(data))
    rehash(run / "last", name)
    before = snapshot(run)
    done = _resume_gpt(tmp_path, "--max-iters", "3")
    error_line(done, name, key)
    assert snapshot(run) == before


# ---- best/ and last/ ----------------------------------------------------------------------

def test_best_ahead_of_last_after_a_crash_between_the_saves(cli_runs, tmp_path):
    """A run extended to step 3 saved best/ and crashed before last/,
    so best/ holds step 3 while last/ holds step 2. The resumed run (nothing left to do
    at its max_iters 2) must report best/'s loss as its best, and keep best/."""
    run = copy(cli_runs.gpt, tmp_path / "run")
    last2 = copy(run / "last", tmp_path / "last2")
    done = _resume_gpt(tmp_path, "--max-iters", "3")
    assert done.returncode == 0, done.stderr
    shutil.rmtree(run / "last")
    shutil.copytree(last2, run / "last")  # as if the crash came between saving best/ and last/
    best, old = trainer_state(run / "best"), trainer_state(run / "last")
    assert (best["step"], old["step"]) == (3, 2)
    assert f"{best['best_val_loss']:.4f}" != f"{old['best_val_loss']:.4f}"  # the report tells them apart
    kept = snapshot(run / "best")
    done = _resume_gpt(tmp_path)
    assert done.returncode == 0, done.stderr
    assert f"best {best['best_val_loss']:.4f}," in done.stdout, done.stdout
    assert snapshot(run / "best") == kept


def test_last_linked_outside_out_survives_two_resumes(cli_runs, tmp_path):
    """With last/ a symbolic link to a folder outside --out, a resume must not leave a
    dangling .last.old that makes the next resume fail after training ("Cannot call
    rmtree on a symbolic link"). Either behaviour passes: each resume succeeds and leaves
    no .last.old, or the first is refused up front (one line naming last) changing nothing."""
    run = copy(cli_runs.gpt, tmp_path / "run")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    os.rename(run / "last", elsewhere / "last")
    os.symlink(elsewhere / "last", run / "last")
    before, outside = snapshot(run), snapshot(elsewhere)
    done = _resume_gpt(tmp_path, "--max-iters", "3")
    if done.returncode != 0:
        error_line(done, os.path.join("run", "last"))
        assert snapshot(run) == before and snapshot(elsewhere) == outside
        return
    assert not [n for n in os.listdir(run) if n.startswith(".last")], os.listdir(run)
    done = _resume_gpt(tmp_path, "--max-iters", "4")
    assert done.returncode == 0, done.stderr
    assert not [n for n in os.listdir(run) if n.startswith(".last")], os.listdir(run)
    assert trainer_state(run / "last")["step"] == 4
