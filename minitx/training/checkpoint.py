"""Checkpoints: one folder per checkpoint, safetensors for arrays, JSON for the rest.

    checkpoint.json       the manifest, written last: every other file's size and SHA-256
    config.json           what to rebuild: {"model_type": "gpt", "model": {...}, ...}
    model.safetensors     state_dict names; a tied weight is stored once, its aliases in the metadata
    optimizer.safetensors the optimizer's arrays; its other state (steps, hyperparameters) in the metadata
    tokenizer.json        the tokenizer's own file (its class named in the manifest)
    trainer_state.json    step, best validation loss, RNG states, data position

A save writes a temporary folder beside the target, then swaps it in with two
renames (target -> .NAME.old, temporary -> target) and deletes the old one. At
every moment one complete checkpoint exists: the target, or, between the two
renames, .NAME.old, which loading falls back to and the next save restores.
No pickle is ever written or read.
"""
import glob
import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from typing import Optional

import numpy as np
from safetensors import safe_open
from safetensors.numpy import save_file

from .tensor import Tensor

FORMAT, VERSION = "minitx-checkpoint", 1
MANIFEST, CONFIG, MODEL = "checkpoint.json", "config.json", "model.safetensors"
OPTIMIZER, TOKENIZER, TRAINER = "optimizer.safetensors", "tokenizer.json", "trainer_state.json"


class CheckpointError(ValueError):
    """A checkpoint folder that is missing, incomplete or damaged; the message names the file."""


@dataclass
class Checkpoint:
    path: str
    config: dict
    weights: dict                          # state_dict name -> array, aliases of tied weights included
    optimizer: Optional[dict] = None       # the optimizer's state_dict
    tokenizer: Optional[object] = None
    trainer_state: Optional[dict] = None


# ---- saving ---------------------------------------------------------------------
def save_checkpoint(path, model, config, optimizer=None, tokenizer=None, trainer_state=None):
    """Write a checkpoint folder at `path`, atomically replacing one already there.

    config: a JSON-able dict, at least {"model_type": ..., "model": {...}} for build_model.
    """
    path = os.path.abspath(path)
    parent, name = os.path.split(path)
    os.makedirs(parent, exist_ok=True)
    if os.path.exists(path) and not _is_checkpoint(path) and os.listdir(path):
        raise CheckpointError(f"{path}: exists and is not a minitx checkpoint; refusing to replace it")
    _recover(path)
    tmp = tempfile.mkdtemp(dir=parent, prefix=f".{name}.tmp-")
    try:
        files = _write_contents(tmp, model, config, optimizer, tokenizer, trainer_state)
        manifest = {"format": FORMAT, "version": VERSION, "files": files,
                    "tokenizer_class": type(tokenizer).__name__ if tokenizer is not None else None}
        _write_json(os.path.join(tmp, MANIFEST), manifest)
        _fsync_dir(tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = _old(path)
    if os.path.exists(path):
        os.rename(path, old)
    os.rename(tmp, path)
    _fsync_dir(parent)
    shutil.rmtree(old, ignore_errors=True)
    return path


def _write_contents(folder, model, config, optimizer, tokenizer, trainer_state):
    """Write every file but the manifest; return {file: {"bytes", "sha256"}}."""
    weights, tied = _dedupe(model.state_dict())
    save_file(weights, os.path.join(folder, MODEL), metadata={"tied": json.dumps(tied)})
    _write_json(os.path.join(folder, CONFIG), config)
    if optimizer is not None:
        arrays = {}
        skeleton = _split_arrays(optimizer.state_dict(), arrays, "")
        save_file(arrays, os.path.join(folder, OPTIMIZER), metadata={"state": json.dumps(skeleton)})
    if tokenizer is not None:
        tokenizer.save(os.path.join(folder, TOKENIZER))
    if trainer_state is not None:
        _write_json(os.path.join(folder, TRAINER), trainer_state)
    files = {}
    for file in sorted(os.listdir(folder)):
        full = os.path.join(folder, file)
        with open(full, "rb+") as f:
            os.fsync(f.fileno())
        files[file] = {"bytes": os.path.getsize(full), "sha256": _sha256(full)}
    return files


def _dedupe(state):
    """(arrays with each tied weight once, {alias: name kept})."""
    kept, tied, first = {}, {}, {}
    for name, value in state.items():
        if id(value) in first:
            tied[name] = first[id(value)]
        else:
            first[id(value)] = name
            kept[name] = np.ascontiguousarray(value)
    return kept, tied


def _split_arrays(obj, arrays, prefix):
    """A JSON skeleton of a nested state; each array goes into `arrays` and leaves {"__array__": key}."""
    if isinstance(obj, Tensor):
        obj = obj.data
    if isinstance(obj, np.ndarray):
        arrays[prefix] = np.ascontiguousarray(obj)
        return {"__array__": prefix}
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, dict):
        if all(isinstance(k, str) for k in obj):
            return {k: _split_arrays(v, arrays, f"{prefix}.{k}".lstrip(".")) for k, v in obj.items()}
        # non-string keys (parameter indices) would turn into strings in JSON
        return {"__items__": [[k, _split_arrays(v, arrays, f"{prefix}.{k}".lstrip("."))] for k, v in obj.items()]}
    if isinstance(obj, (list, tuple)):
        return [_split_arrays(v, arrays, f"{prefix}.{i}".lstrip(".")) for i, v in enumerate(obj)]
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(f"save_checkpoint: optimizer state at {prefix!r} holds a {type(obj).__name__}, "
                    f"which a checkpoint cannot store")


def _join_arrays(obj, arrays):
    if isinstance(obj, dict):
        if set(obj) == {"__array__"}:
            return arrays[obj["__array__"]]
        if set(obj) == {"__items__"}:
            return {k: _join_arrays(v, arrays) for k, v in obj["__items__"]}
        return {k: _join_arrays(v, arrays) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_join_arrays(v, arrays) for v in obj]
    return obj


def _write_json(file, obj):
    with open(file, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=1)


def _sha256(file):
    h = hashlib.sha256()
    with open(file, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _fsync_dir(folder):
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # Windows cannot open a folder; its renames are durable enough
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _old(path):
    parent, name = os.path.split(path)
    return os.path.join(parent, f".{name}.old")


def _is_checkpoint(folder):
    return os.path.isfile(os.path.join(folder, MANIFEST))


def _recover(path):
    """Undo what a save that crashed left behind: stale temporaries, a swap cut in half."""
    parent, name = os.path.split(path)
    for tmp in glob.glob(os.path.join(glob.escape(parent), f".{glob.escape(name)}.tmp-*")):
        shutil.rmtree(tmp, ignore_errors=True)
    old = _old(path)
    if os.path.exists(old):
        if _is_checkpoint(path):
            shutil.rmtree(old)  # crashed after the swap, before deleting the old one
        else:
            if os.path.exists(path):
                os.rmdir(path)  # only an empty folder gets here (save_checkpoint checked)
            os.rename(old, path)  # crashed between the two renames


# ---- loading --------------------------------------------------------------------
def find_checkpoint(path, prefer=("best", "last")):
    """The checkpoint folder meant by `path`: itself, or its best/ (else last/) subfolder."""
    path = os.path.abspath(path)
    candidates = [path] + [os.path.join(path, sub) for sub in prefer]
    for folder in candidates:
        if _is_checkpoint(folder) or (not os.path.exists(folder) and _is_checkpoint(_old(folder))):
            return folder
    if not os.path.exists(path):
        raise CheckpointError(f"{path}: no such checkpoint folder")
    raise CheckpointError(f"{path}: not a checkpoint (no {MANIFEST}) and holds no "
                          + " or ".join(f"{p}/" for p in prefer) + " checkpoint")


def load_checkpoint(path):
    """Read a checkpoint folder; any damaged file is a CheckpointError naming it."""
    path = os.path.abspath(path)
    if not os.path.exists(path) and _is_checkpoint(_old(path)):
        path = _old(path)  # a save was cut between its two renames; this is the complete copy
    if not os.path.isdir(path):
        raise CheckpointError(f"{path}: no such checkpoint folder")
    manifest = _read_json(os.path.join(path, MANIFEST), what="the manifest (the save did not finish?)")
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise CheckpointError(f"{os.path.join(path, MANIFEST)}: not a {FORMAT} manifest")
    for file, info in manifest.get("files", {}).items():
        _verify(os.path.join(path, file), info)
    files = manifest["files"]
    weights, meta = _read_safetensors(os.path.join(path, MODEL))
    for alias, name in _parse_meta(meta, "tied", os.path.join(path, MODEL)).items():
        weights[alias] = weights[name]
    ckpt = Checkpoint(path, _read_json(os.path.join(path, CONFIG)), weights)
    if OPTIMIZER in files:
        file = os.path.join(path, OPTIMIZER)
        arrays, meta = _read_safetensors(file)
        ckpt.optimizer = _join_arrays(_parse_meta(meta, "state", file), arrays)
    if TOKENIZER in files:
        ckpt.tokenizer = _load_tokenizer(os.path.join(path, TOKENIZER), manifest.get("tokenizer_class"))
    if TRAINER in files:
        ckpt.trainer_state = _read_json(os.path.join(path, TRAINER))
    return ckpt


def _verify(file, info):
    if not os.path.isfile(file):
        raise CheckpointError(f"{file}: missing from the checkpoint")
    size = os.path.getsize(file)
    if size != info["bytes"]:
        raise CheckpointError(f"{file}: truncated or overwritten ({size} bytes, the manifest says {info['bytes']})")
    if _sha256(file) != info["sha256"]:
        raise CheckpointError(f"{file}: corrupted (its SHA-256 does not match the manifest)")


def _read_json(file, what="a file of the checkpoint"):
    try:
        with open(file, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        raise CheckpointError(f"{file}: missing; it is {what}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{file}: not valid JSON ({e})") from None


def _read_safetensors(file):
    try:
        with safe_open(file, framework="np") as f:
            return {k: f.get_tensor(k) for k in f.keys()}, f.metadata() or {}
    except Exception as e:  # safetensors raises its own error types for a damaged file
        raise CheckpointError(f"{file}: not a readable safetensors file ({e})") from None


def _parse_meta(meta, key, file):
    try:
        return json.loads(meta[key])
    except (KeyError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{file}: metadata {key!r} is missing or not JSON ({e})") from None


def _load_tokenizer(file, class_name):
    from . import tokenizers
    cls = getattr(tokenizers, class_name or "", None)
    if class_name not in tokenizers.__all__ or cls is None:
        raise CheckpointError(f"{file}: unknown tokenizer class {class_name!r}")
    try:
        return cls.load(file)
    except (ValueError, KeyError, OSError) as e:
        raise CheckpointError(f"{file}: cannot load the {class_name} ({e})") from None


# ---- rebuilding a model -----------------------------------------------------------
def _model_types():
    """model_type -> (model class, config class); each family adds its line."""
    from .models.bert import MODEL_TYPES, BertConfig
    from .models.gpt import GPT, GPTConfig
    return {"gpt": (GPT, GPTConfig), **{kind: (cls, BertConfig) for kind, cls in MODEL_TYPES.items()}}


def build_model(ckpt):
    """The model a checkpoint describes, with its weights loaded (in their saved dtype)."""
    file = os.path.join(ckpt.path, CONFIG)
    kind = ckpt.config.get("model_type")
    types = _model_types()
    if kind not in types:
        raise CheckpointError(f"{file}: unknown model_type {kind!r} (known: {', '.join(types)})")
    model_cls, config_cls = types[kind]
    try:
        model = model_cls(config_cls(**ckpt.config["model"]))
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"{file}: bad model config ({e})") from None
    dtypes = {w.dtype for w in ckpt.weights.values() if np.issubdtype(w.dtype, np.floating)}
    if len(dtypes) == 1:
        model.to(dtypes.pop())
    try:
        model.load_state_dict(ckpt.weights)
    except RuntimeError as e:
        raise CheckpointError(f"{os.path.join(ckpt.path, MODEL)}: {e}") from None
    return model
