"""first_divergence: run a minitx model and a reference side by side with a hook on
every submodule, and name the first module whose output differs.

"The logits differ" becomes "transformer.h.1.mlp.c_fc differs". Modules are matched
by name: minitx's GPT and BERT use the Hugging Face names, so a transformers model
lines up module for module; a minitx model of the same architecture does too.
"""
from dataclasses import dataclass

import numpy as np

from ..nn.module import Module
from ..tensor import Tensor


@dataclass
class Divergence:
    """Where two models first part: the module's name, the largest absolute and
    relative differences of its output, the largest difference in units in the last
    place (of the model's dtype, at the reference's value), and both shapes."""
    name: str
    max_abs: float
    max_rel: float
    max_ulp: float
    shape: tuple
    reference_shape: tuple

    def __str__(self):
        return (f"{self.name or '(the model)'}: max abs diff {self.max_abs:.3g}, max rel diff "
                f"{self.max_rel:.3g}, {self.max_ulp:.3g} ulp, shapes {self.shape} and "
                f"{self.reference_shape}")


def first_divergence(model, reference, inputs, atol=1e-5, rtol=1e-4):
    """None if every module of `model` whose name the reference also has gives the same
    output within atol + rtol * |reference|; else the Divergence of the first such
    module, in the order the modules finished their forward.

    model: a minitx Module (GPT, BERT). reference: a transformers model, a Hugging Face
    folder to load one from (the class named like the model's: BertModel for
    BertModel, GPT2LMHeadModel for GPT), or another minitx Module. inputs: token ids
    (B, T), or a dict of keyword arguments (input_ids, attention_mask, ...).
    Both run in eval mode; their training flags are restored after.
    """
    if isinstance(reference, str):
        reference = _load_reference(model, reference)
    kwargs = dict(inputs) if isinstance(inputs, dict) else {"input_ids": np.asarray(inputs)}
    ours = _record(model, lambda: model(**kwargs))
    if isinstance(reference, Module):
        theirs = dict(_record(reference, lambda: reference(**kwargs)))
    else:
        theirs = dict(_record_torch(reference, kwargs))
    for name, out in ours:
        if name not in theirs:
            continue
        ref = theirs[name]
        if _squeezed(out.shape) == _squeezed(ref.shape):   # (T, C) against (1, T, C)
            ref = ref.reshape(out.shape)
        if out.shape != ref.shape:
            return Divergence(name, float("inf"), float("inf"), float("inf"), out.shape, ref.shape)
        if not np.allclose(out, ref, atol=atol, rtol=rtol, equal_nan=True):
            return _divergence(name, out, ref)
    return None


def _squeezed(shape):
    return tuple(n for n in shape if n != 1)


def _divergence(name, out, ref):
    a, b = out.astype(np.float64), ref.astype(np.float64)
    diff = np.abs(a - b)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(diff == 0, 0.0, diff / np.abs(b))
        ulp = diff / np.spacing(np.abs(b).astype(out.dtype if out.dtype.kind == "f" else np.float64))
    return Divergence(name, float(np.nanmax(diff)), float(np.nanmax(rel)), float(np.nanmax(ulp)),
                      out.shape, ref.shape)


def _first_array(out):
    """The array a module's output stands for: a Tensor, the logits or last hidden
    state of a model output, or the first element of a tuple."""
    for attr in ("logits", "prediction_logits", "last_hidden_state"):
        if getattr(out, attr, None) is not None and not isinstance(out, (Tensor, np.ndarray)):
            return _first_array(getattr(out, attr))
    if isinstance(out, (tuple, list)):
        return _first_array(out[0]) if out else None
    if isinstance(out, Tensor):
        return out.data
    if isinstance(out, np.ndarray):
        return out
    if hasattr(out, "detach"):      # a torch tensor
        return out.detach().cpu().numpy()
    return None


def _record(model, run):
    """[(module name, output array)] in the order modules finished, for one run."""
    seen, handles = [], []
    for name, module in model.named_modules():
        def hook(module, args, out, name=name):
            array = _first_array(out)
            if array is not None:
                seen.append((name, np.array(array, copy=True)))
        handles.append(module.register_forward_hook(hook))
    was_training = model.training
    model.eval()
    try:
        run()
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()
    return seen


def _record_torch(reference, kwargs):
    import torch
    seen, handles = [], []
    for name, module in reference.named_modules():
        def hook(module, args, out, name=name):
            array = _first_array(out)
            if array is not None:
                seen.append((name, np.array(array, copy=True)))
        handles.append(module.register_forward_hook(hook))
    was_training = reference.training
    reference.eval()
    try:
        with torch.no_grad():
            reference(**{k: torch.from_numpy(np.asarray(v)) for k, v in kwargs.items()})
    finally:
        reference.train(was_training)
        for h in handles:
            h.remove()
    return seen


def _load_reference(model, folder):
    try:
        import transformers
    except ImportError as err:
        raise ImportError("first_divergence: loading a Hugging Face folder needs transformers "
                          "(pip install transformers torch)") from err
    name = "GPT2LMHeadModel" if type(model).__name__ == "GPT" else type(model).__name__
    cls = getattr(transformers, name, None)
    if cls is None:
        raise ValueError(f"first_divergence: transformers has no {name} to compare a "
                         f"{type(model).__name__} with; pass a transformers model instead")
    return cls.from_pretrained(folder).eval()
