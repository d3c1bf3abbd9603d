import json
import os

import numpy as np
import pytest

from minitx.backend import use_backend
from minitx.training import checkpoint as ckpt_mod
from minitx.training.checkpoint import CheckpointError, find_checkpoint, load_checkpoint, save_checkpoint
from minitx.optim import AdamW
from minitx.tensor import Tensor
from minitx.tokenizers import CharTokenizer


@pytest.fixture(autouse=True)
def numpy_backend():
    # these tests check the training machinery, not the kernels (tested on their own): the
    # NumPy twins need no compiling and no thread pool, which keeps them fast on a busy machine
    with use_backend("numpy"):
        yield


class TinyModel:
    """Just what a checkpoint reads: a state_dict whose tied entries share one array."""

    def __init__(self, seed=0):
        rng = np.random.default_rng(seed)
        self.wte = Tensor(rng.standard_normal((5, 3)).astype(np.float32), requires_grad=True)
        self.b = Tensor(rng.standard_normal(3).astype(np.float32), requires_grad=True)

    def parameters(self):
        return [self.wte, self.b]

    def state_dict(self):
        return {"wte.weight": self.wte.data, "b": self.b.data, "head.weight": self.wte.data}


def _optimizer(model):
    opt = AdamW([{"params": [model.wte], "weight_decay": 0.1}, {"params": [model.b], "weight_decay": 0.0}],
                lr=1e-2, betas=(0.9, 0.95))
    for p in model.parameters():
        p.grad = np.ones_like(p.data)
    opt.step()
    return opt


def _save(path, seed=0, step=1):
    model = TinyModel(seed)
    opt = _optimizer(model)
    save_checkpoint(path, model, {"model_type": "tiny", "model": {"n": 5}}, optimizer=opt,
                    tokenizer=CharTokenizer("abc"), trainer_state={"step": step, "rng": {"big": 2**100}})
    return model, opt


def test_round_trip(tmp_path):
    model, opt = _save(tmp_path / "last")
    ck = load_checkpoint(tmp_path / "last")
    assert ck.config == {"model_type": "tiny", "model": {"n": 5}}
    assert ck.trainer_state == {"step": 1, "rng": {"big": 2**100}}
    np.testing.assert_array_equal(ck.weights["wte.weight"], model.wte.data)
    assert ck.weights["head.weight"] is ck.weights["wte.weight"]
    assert ck.tokenizer.encode("cab") == [2, 0, 1]
    # the optimizer state loads back into a fresh optimizer and gives the same state
    fresh = TinyModel(1)
    opt2 = AdamW([{"params": [fresh.wte]}, {"params": [fresh.b]}], lr=0.5)
    opt2.load_state_dict(ck.optimizer)
    a, b = opt.state_dict(), opt2.state_dict()
    assert [g["weight_decay"] for g in b["param_groups"]] == [0.1, 0.0]
    assert b["state"][0]["step"] == 1
    for i in a["state"]:
        for k in ("exp_avg", "exp_avg_sq"):
            np.testing.assert_array_equal(a["state"][i][k], b["state"][i][k])


def test_tied_weight_is_stored_once(tmp_path):
    _save(tmp_path / "c")
    from safetensors.numpy import load_file
    assert sorted(load_file(tmp_path / "c" / "model.safetensors")) == ["b", "wte.weight"]


def test_replacing_a_checkpoint_leaves_no_temporaries(tmp_path):
    _save(tmp_path / "last", seed=0, step=1)
    _save(tmp_path / "last", seed=1, step=2)
    assert sorted(os.listdir(tmp_path)) == ["last"]
    assert load_checkpoint(tmp_path / "last").trainer_state["step"] == 2


def test_crash_while_writing_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    _save(tmp_path / "last", step=1)

    def crash(*args, **kwargs):
        raise KeyboardInterrupt  # as if killed halfway through writing the folder
    monkeypatch.setattr(ckpt_mod, "_write_json", crash)
    with pytest.raises(KeyboardInterrupt):
        _save(tmp_path / "last", step=2)
    monkeypatch.undo()
    assert load_checkpoint(tmp_path / "last").trainer_state["step"] == 1
    assert sorted(os.listdir(tmp_path)) == ["last"]


def test_crash_between_the_two_renames(tmp_path, monkeypatch):
    _save(tmp_path / "last", step=1)
    real_rename, calls = os.rename, []

    def rename(src, dst):
        calls.append(dst)
        if len(calls) == 2:  # last -> .last.old done; .last.tmp-* -> last never happens
            raise OSError("power cut")
        real_rename(src, dst)
    monkeypatch.setattr(ckpt_mod.os, "rename", rename)
    with pytest.raises(OSError, match="power cut"):
        _save(tmp_path / "last", step=2)
    monkeypatch.undo()
    assert not (tmp_path / "last").exists()
    # loading finds the complete old copy; the next save puts things back in order
    assert load_checkpoint(tmp_path / "last").trainer_state["step"] == 1
    assert find_checkpoint(tmp_path) == str(tmp_path / "last")
    _save(tmp_path / "last", step=3)
    assert sorted(os.listdir(tmp_path)) == ["last"]
    assert load_checkpoint(tmp_path / "last").trainer_state["step"] == 3


def test_refuses_to_replace_a_folder_that_is_not_a_checkpoint(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(CheckpointError, match="not a minitx checkpoint; refusing"):
        _save(tmp_path / "mine")
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"


@pytest.mark.parametrize("file", ["model.safetensors", "optimizer.safetensors", "trainer_state.json",
                                  "tokenizer.json", "config.json"])
def test_truncated_file_is_named(tmp_path, file):
    _save(tmp_path / "c")
    path = tmp_path / "c" / file
    path.write_bytes(path.read_bytes()[:-7])
    with pytest.raises(CheckpointError, match=f"{file}: truncated"):
        load_checkpoint(tmp_path / "c")


def test_flipped_byte_is_named(tmp_path):
    _save(tmp_path / "c")
    path = tmp_path / "c" / "model.safetensors"
    data = bytearray(path.read_bytes())
    data[-3] ^= 0xFF  # inside the float data: safetensors itself cannot notice
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="model.safetensors: corrupted"):
        load_checkpoint(tmp_path / "c")


def test_damaged_manifest_and_missing_file(tmp_path):
    _save(tmp_path / "c")
    (tmp_path / "c" / "trainer_state.json").unlink()
    with pytest.raises(CheckpointError, match="trainer_state.json: missing"):
        load_checkpoint(tmp_path / "c")
    (tmp_path / "c" / "checkpoint.json").write_text('{"format": "minitx-checkpoint", "fil')
    with pytest.raises(CheckpointError, match=r"checkpoint.json: not valid JSON"):
        load_checkpoint(tmp_path / "c")
    (tmp_path / "c" / "checkpoint.json").unlink()
    with pytest.raises(CheckpointError, match="checkpoint.json: missing"):
        load_checkpoint(tmp_path / "c")


def test_damaged_safetensors_with_a_matching_manifest(tmp_path):
    # a file damaged before its checksum was taken still gives a clear error, not a NumPy crash
    _save(tmp_path / "c")
    path = tmp_path / "c" / "model.safetensors"
    path.write_bytes(b"\xff" * 40)
    manifest = json.loads((tmp_path / "c" / "checkpoint.json").read_text())
    manifest["files"]["model.safetensors"] = {"bytes": 40, "sha256": ckpt_mod.file_sha256(path)}
    (tmp_path / "c" / "checkpoint.json").write_text(json.dumps(manifest))
    with pytest.raises(CheckpointError, match="model.safetensors: not a readable safetensors file"):
        load_checkpoint(tmp_path / "c")


def test_find_checkpoint_prefers_best(tmp_path):
    _save(tmp_path / "last")
    assert find_checkpoint(tmp_path) == str(tmp_path / "last")
    _save(tmp_path / "best")
    assert find_checkpoint(tmp_path) == str(tmp_path / "best")
    assert find_checkpoint(tmp_path / "last") == str(tmp_path / "last")
    with pytest.raises(CheckpointError, match="no such checkpoint folder"):
        find_checkpoint(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="not a checkpoint"):
        find_checkpoint(tmp_path / "empty")


def test_build_model_restores_a_gpt_with_tied_weights(tmp_path):
    from minitx.training.checkpoint import build_model
    from minitx.models.gpt import GPT, GPTConfig
    cfg = GPTConfig(vocab_size=11, block_size=8, n_layer=1, n_head=2, n_embd=8)
    model = GPT(cfg).double()
    save_checkpoint(tmp_path / "c", model, {"model_type": "gpt", "model": cfg.to_dict()})
    again = build_model(load_checkpoint(tmp_path / "c"))
    assert again.lm_head.weight is again.transformer.wte.weight
    assert again.transformer.wte.weight.dtype == np.float64
    ids = np.arange(6)[None] % 11
    np.testing.assert_array_equal(again(ids).logits.data, model(ids).logits.data)
    with pytest.raises(CheckpointError, match="config.json: unknown model_type 'rnn'"):
        build_model(ckpt_mod.Checkpoint(str(tmp_path / "c"), {"model_type": "rnn"}, {}))


@pytest.mark.parametrize("umask", [0o022, 0o027, 0o077])
def test_checkpoints_and_exported_folders_take_the_users_umask(tmp_path, umask):
    """A run folder shared with a group reads as any file the user writes would."""
    from minitx.models.gpt import GPT, GPTConfig
    model = GPT(GPTConfig(vocab_size=5, block_size=4, n_layer=1, n_head=1, n_embd=4))
    old = os.umask(umask)
    try:
        save_checkpoint(tmp_path / "last", model, {"model_type": "gpt", "model": model.config.to_dict()})
        model.save_pretrained(tmp_path / "hf")
    finally:
        os.umask(old)
    for folder in (tmp_path / "last", tmp_path / "hf"):
        assert folder.stat().st_mode & 0o777 == 0o777 & ~umask, folder
        for f in folder.iterdir():
            assert f.stat().st_mode & 0o777 == 0o666 & ~umask, f
