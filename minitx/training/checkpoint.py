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
No pickle is ever written or read. Loading verifies every file it reads against
the manifest, and the parts a command relies on are checked (`require`), so a
damaged or hand-edited checkpoint is one CheckpointError naming the file and key.

This module imports no model: models.registry maps a config's model_type to its
classes.
"""
import glob
import hashlib
import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from typing import Optional

import numpy as np
from safetensors import SafetensorError, safe_open
from safetensors.numpy import save_file

from ..models.hub import umask_mode
from ..tensor import Tensor

FORMAT, VERSION = "minitx-checkpoint", 1
MANIFEST, CONFIG, MODEL = "checkpoint.json", "config.json", "model.safetensors"
OPTIMIZER, TOKENIZER, TRAINER = "optimizer.safetensors", "tokenizer.json", "trainer_state.json"


class CheckpointError(ValueError):
    """A checkpoint folder that is missing, incomplete or damaged, or that cannot be written
    (a full disk); the message names the file."""


@dataclass
class Checkpoint:
    path: str
    config: dict
    weights: dict                          # state_dict name -> array, aliases of tied weights included
    optimizer: Optional[dict] = None       # the optimizer's state_dict
    tokenizer: Optional[object] = None
    trainer_state: Optional[dict] = None

    @property
    def config_file(self):
        return os.path.join(self.path, CONFIG)

    def load_weights_into(self, model):
        """model.load_state_dict(weights); weights that do not fit name the weights file."""
        try:
            model.load_state_dict(self.weights)
        except RuntimeError as e:
            raise CheckpointError(f"{os.path.join(self.path, MODEL)}: does not fit the model that "
                                  f"{CONFIG} describes ({e})") from None


def require(obj, key, kind, where):
    """obj[key], checked to be of type `kind` (bool is not an int here); else a
    CheckpointError naming `where` and the key."""
    if not isinstance(obj, dict) or key not in obj:
        raise CheckpointError(f"{where}: {key!r} is missing")
    value = obj[key]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        names = " or ".join("null" if k is type(None) else k.__name__ for k in kinds)
        raise CheckpointError(f"{where}: {key!r} must be {names}, got {value!r}")
    return value


def data_section(ckpt):
    """The checked "data" section of a training run's config: path, seed, val_fraction."""
    where = f"{ckpt.config_file}: data"
    data = require(ckpt.config, "data", dict, ckpt.config_file)
    require(data, "path", (str, type(None)), where)
    if require(data, "seed", int, where) < 0:
        raise CheckpointError(f"{where}: 'seed' must be >= 0, got {data['seed']}")
    if not 0 < require(data, "val_fraction", (float, int), where) < 1:
        raise CheckpointError(f"{where}: 'val_fraction' must be in (0, 1), got {data['val_fraction']}")
    return data


def model_config(ckpt, config_cls, **overrides):
    """config_cls from the checkpoint's "model" section (plus overrides), checked."""
    section = require(ckpt.config, "model", dict, ckpt.config_file)
    try:
        return config_cls.from_dict({**section, **overrides}, where=f"{ckpt.config_file}: model")
    except ValueError as e:
        raise CheckpointError(str(e)) from None


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
        for name in os.listdir(tmp):
            umask_mode(os.path.join(tmp, name))
        umask_mode(tmp)
        _fsync_dir(tmp)
    except BaseException as e:
        shutil.rmtree(tmp, ignore_errors=True)
        problem = _write_problem(e)
        if problem is None:
            raise
        raise CheckpointError(f"cannot save checkpoint to {path}: {problem} (about "
                              f"{_bytes_needed(model, optimizer):,} bytes needed)") from None
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
        files[file] = {"bytes": os.path.getsize(full), "sha256": file_sha256(full)}
    return files


def _write_problem(error):
    """What stopped a write, in words ("no space left on device"), or None for an error
    that is not the file system's. safetensors reports it as "... (os error 28)"."""
    code = error.errno if isinstance(error, OSError) else None
    if isinstance(error, SafetensorError):
        found = re.search(r"\(os error (\d+)\)", str(error))
        code = int(found.group(1)) if found else None
    return os.strerror(code)[:1].lower() + os.strerror(code)[1:] if code else None


def _bytes_needed(model, optimizer):
    """The bytes of the arrays a checkpoint holds (its JSON files are small beside them)."""
    weights, _ = _dedupe(model.state_dict())
    arrays = {}
    if optimizer is not None:
        _split_arrays(optimizer.state_dict(), arrays, "")
    return sum(a.nbytes for a in [*weights.values(), *arrays.values()])


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


def file_sha256(file):
    """The SHA-256 of a file's bytes (read 1 MB at a time), as a manifest records it."""
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
    files, tokenizer_class = _read_manifest(path)
    weights, meta = _read_safetensors(os.path.join(path, MODEL))
    for alias, name in _parse_meta(meta, "tied", os.path.join(path, MODEL)).items():
        weights[alias] = weights[name]
    config = _read_json(os.path.join(path, CONFIG))
    if not isinstance(config, dict):
        raise CheckpointError(f"{os.path.join(path, CONFIG)}: expected a JSON object, got {type(config).__name__}")
    ckpt = Checkpoint(path, config, weights)
    if OPTIMIZER in files:
        file = os.path.join(path, OPTIMIZER)
        arrays, meta = _read_safetensors(file)
        ckpt.optimizer = _join_arrays(_parse_meta(meta, "state", file), arrays)
    if TOKENIZER in files:
        ckpt.tokenizer = _load_tokenizer(os.path.join(path, TOKENIZER), tokenizer_class)
    if TRAINER in files:
        ckpt.trainer_state = _read_json(os.path.join(path, TRAINER))
    return ckpt


def _read_manifest(path):
    """({file: info}, tokenizer class name) of the manifest, each listed file verified.
    The files a checkpoint always has (config, weights) must be listed; any other
    file is read only if it is listed too."""
    file = os.path.join(path, MANIFEST)
    manifest = _read_json(file, what="the manifest (the save did not finish?)")
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise CheckpointError(f"{file}: not a {FORMAT} manifest")
    files = require(manifest, "files", dict, file)
    for name in (CONFIG, MODEL):
        if name not in files:
            raise CheckpointError(f"{os.path.join(path, name)}: not listed in {file}, so it cannot be verified")
    for name, info in files.items():
        if os.path.basename(name) != name or name in (".", "..", MANIFEST):
            raise CheckpointError(f"{file}: lists {name!r}, not a file of the checkpoint")
        where = f"{file}: files: {name}"
        require(info, "bytes", int, where)
        require(info, "sha256", str, where)
        _verify(os.path.join(path, name), info)
    tokenizer_class = manifest.get("tokenizer_class")
    if TOKENIZER in files and not isinstance(tokenizer_class, str):
        raise CheckpointError(f"{file}: 'tokenizer_class' must name the tokenizer's class, got {tokenizer_class!r}")
    return files, tokenizer_class


def _verify(file, info):
    if not os.path.isfile(file):
        raise CheckpointError(f"{file}: missing from the checkpoint")
    size = os.path.getsize(file)
    if size != info["bytes"]:
        raise CheckpointError(f"{file}: truncated or overwritten ({size} bytes, the manifest says {info['bytes']})")
    if file_sha256(file) != info["sha256"]:
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
    from .. import tokenizers
    cls = getattr(tokenizers, class_name or "", None)
    if class_name not in tokenizers.__all__ or cls is None:
        raise CheckpointError(f"{file}: unknown tokenizer class {class_name!r}")
    try:
        return cls.load(file)
    except (ValueError, KeyError, OSError) as e:
        raise CheckpointError(f"{file}: cannot load the {class_name} ({e})") from None


# ---- rebuilding a model -----------------------------------------------------------
def build_model(ckpt, cls=None, **config_overrides):
    """The model a checkpoint describes, with its weights loaded (in their saved dtype).
    cls: another class of the same family (a BERT checkpoint into a BertModel, say),
    with config_overrides (num_labels for a new head)."""
    from ..models.registry import lookup
    kind = ckpt.config.get("model_type")
    try:
        model_cls, config_cls = lookup(kind)
    except KeyError as e:
        raise CheckpointError(f"{ckpt.config_file}: {e.args[0]}") from None
    config = model_config(ckpt, config_cls, **config_overrides)
    dtypes = {w.dtype for w in ckpt.weights.values() if np.issubdtype(w.dtype, np.floating)}
    dtype = dtypes.pop() if len(dtypes) == 1 else np.float32
    if cls is None:
        model = model_cls(config).to(dtype)
        ckpt.load_weights_into(model)
        return model
    try:
        return cls.from_state_dict(config, ckpt.weights, where=os.path.join(ckpt.path, MODEL), dtype=dtype)
    except ValueError as e:
        raise CheckpointError(str(e)) from None


def load_model(path, model_types, cls=None, **config_overrides):
    """(model, tokenizer) of the checkpoint folder `path`, which must hold one of `model_types`."""
    ckpt = load_checkpoint(path)
    kind = ckpt.config.get("model_type")
    if kind not in model_types:
        raise CheckpointError(f"{ckpt.path}: a {kind} checkpoint, not one of {', '.join(model_types)}")
    if ckpt.tokenizer is None:
        raise CheckpointError(f"{ckpt.path}: holds no tokenizer")
    model = build_model(ckpt, cls, **config_overrides)
    vocab = getattr(model.config, "vocab_size", None)
    if vocab is not None and ckpt.tokenizer.vocab_size > vocab:
        raise CheckpointError(f"{os.path.join(ckpt.path, TOKENIZER)}: {ckpt.tokenizer.vocab_size} tokens, more "
                              f"than the model's vocab_size {vocab}")
    return model, ckpt.tokenizer
