"""Reading and writing Hugging Face style model folders: config.json + model.safetensors.

No pickle is ever loaded: a folder with only pytorch_model.bin gets an error
that says how to convert it. Writes go to a temporary file renamed into place.
"""
import json
import os
import tempfile

import numpy as np
from safetensors.numpy import load_file, save_file

from ..config import check_value

WEIGHTS = "model.safetensors"
CONFIG = "config.json"

# transformers' activation names for GELU -> F.gelu's `approximate`
HF_GELU = {"gelu": "none", "gelu_new": "tanh", "gelu_pytorch_tanh": "tanh", "gelu_fast": "tanh"}


def read_config(path):
    file = os.path.join(path, CONFIG)
    if not os.path.isdir(path):
        raise FileNotFoundError(f"{path}: not a folder (expected {CONFIG} and {WEIGHTS} inside)")
    try:
        with open(file, encoding="utf-8") as f:
            config = json.load(f)
    except FileNotFoundError:
        raise FileNotFoundError(f"{file}: missing; a model folder needs {CONFIG} and {WEIGHTS}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{file}: not valid JSON ({e})") from None
    if not isinstance(config, dict):
        raise ValueError(f"{file}: expected a JSON object, got {type(config).__name__}")
    return config


_REQUIRED = object()


def value(hf, key, kind, file, default=_REQUIRED):
    """hf[key] checked to be of type `kind` (config.check_value); `default` when absent,
    or an error naming the file and key when it is required."""
    if key not in hf:
        if default is _REQUIRED:
            raise ValueError(f"{file}: {key} is missing")
        return default
    return check_value(hf[key], kind, f"{file}: {key}")


def check_sizes(file, weights_file, weights, sizes):
    """Each (config key, its value, weight name, axis) must agree with the weights'
    shape, so a wrong size in config.json names the key rather than a parameter."""
    for key, size, name, axis in sizes:
        w = weights.get(name)
        if w is not None and w.ndim > axis and w.shape[axis] != size:
            raise ValueError(f"{file}: {key} is {size}, but {weights_file} has {w.shape[axis]} "
                             f"({name} of shape {w.shape})")


def count_layers(weights, marker):
    """How many layers the weights hold: 1 + the largest index after `marker` in a name."""
    found = [int(k[k.index(marker) + len(marker):].split(".")[0]) for k in weights if marker in k]
    return max(found) + 1 if found else 0


def read_weights(path):
    """name -> NumPy array from model.safetensors; refuses pickled checkpoints."""
    file = os.path.join(path, WEIGHTS)
    if not os.path.exists(file):
        pickled = [n for n in ("pytorch_model.bin", "model.pt", "model.pth") if os.path.exists(os.path.join(path, n))]
        if pickled:
            raise ValueError(
                f"{path}: only {pickled[0]} is present, a pickle, which minitx never loads. Convert it "
                f"once with PyTorch: `from safetensors.torch import save_file; import torch; "
                f"save_file(torch.load('{pickled[0]}'), '{WEIGHTS}')`, or save_pretrained(..., "
                f"safe_serialization=True) in transformers.")
        raise FileNotFoundError(f"{file}: missing")
    try:
        return load_file(file)
    except Exception as e:  # safetensors raises its own error types for a damaged header
        raise ValueError(f"{file}: not a readable safetensors file ({e})") from None


def umask_mode(path):
    """Give a file or folder the mode open() or mkdir() would under the user's umask:
    temporary files and folders, and safetensors' files, are made 0600/0700 whatever
    the umask, which would keep a run's group from reading it."""
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(path, (0o777 if os.path.isdir(path) else 0o666) & ~mask)


def _atomic(path, write):
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-")
    os.close(fd)
    try:
        write(tmp)
        umask_mode(tmp)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def write_folder(path, config, weights):
    """Write config.json and model.safetensors (arrays made contiguous), each atomically."""
    os.makedirs(path, exist_ok=True)
    arrays = {k: np.ascontiguousarray(v) for k, v in weights.items()}

    def write_config(tmp):
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(config, f, indent=2, sort_keys=True)

    _atomic(os.path.join(path, CONFIG), write_config)
    _atomic(os.path.join(path, WEIGHTS), lambda tmp: save_file(arrays, tmp, metadata={"format": "pt"}))
