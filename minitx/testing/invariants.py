"""check_model: the invariants minitx's own tests hold its GPT and BERT to, run on a
model of yours (what `minitx check` prints).

Each check returns a Result: its name, "pass", "FAIL" or "skip", and a figure (the
largest difference seen, or why it was skipped). Models are imported on use only:
minitx.testing is imported with minitx, below the model families.
"""
import os
import tempfile
from dataclasses import dataclass

import numpy as np

from ..backend import use_backend
from .divergence import _first_array, first_divergence

# A whole model's output, float32, under two summation orders (a batch of one
# against a batch of two; the Numba kernels against their twins): rounding adds up
# over the layers, so this is looser than one kernel's TWIN_TOLERANCE.
MODEL_TOLERANCE = {np.dtype(np.float32): dict(rtol=1e-4, atol=1e-5),
                   np.dtype(np.float64): dict(rtol=1e-10, atol=1e-12)}


@dataclass
class Result:
    name: str
    status: str      # "pass", "FAIL" or "skip"
    figure: str

    @property
    def ok(self):
        return self.status != "FAIL"


def check_model(model, reference=None, B=2, T=8, seed=0):
    """[Result] of every invariant that applies to `model` (a minitx GPT or BERT), on
    random token ids (B, T). reference: a Hugging Face folder or transformers model to
    compare with (first_divergence), or None."""
    model.eval()
    T = min(T, _max_length(model))
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, model.config.vocab_size, (B, T)).astype(np.int64)
    checks = [_kv_cache] if _is_gpt(model) else [_padding]
    checks += [_batch_rows, _threads, _twin, _round_trip]
    results = [check(model, ids) for check in checks]
    if reference is not None:
        results.append(_reference(model, ids, reference))
    return results


def _is_gpt(model):
    return hasattr(model, "generate") and hasattr(model, "transformer")


def _max_length(model):
    c = model.config
    return getattr(c, "block_size", None) or c.max_position_embeddings


def _dtype(model):
    return next(iter(model.parameters())).dtype


def _out(model, ids, **kwargs):
    return np.array(_first_array(model(ids, **kwargs)), copy=True)


def _compare(name, got, want, tol, what):
    diff = float(np.max(np.abs(got.astype(np.float64) - want))) if got.size else 0.0
    ok = got.shape == want.shape and np.allclose(got, want, **tol)
    return Result(name, "pass" if ok else "FAIL", f"max abs diff {diff:.3g} {what}")


def _kv_cache(model, ids):
    from ..nn import KVCache
    name = "KV-cache decoding equals recomputation"
    T = ids.shape[1]
    full = _out(model, ids)                                          # (B, T, V)
    caches = [KVCache(model.config.block_size) for _ in model.transformer.h]
    steps = [_out(model, ids[:, :1], kv_caches=caches)[:, -1]]
    for t in range(1, T):
        steps.append(_out(model, ids[:, t:t + 1], kv_caches=caches)[:, -1])
    result = _compare(name, np.stack(steps, axis=1), full, MODEL_TOLERANCE[_dtype(model)],
                      f"over {T} positions")
    greedy = [model.generate(ids[:, :2], T - 2, do_sample=False, use_cache=c) for c in (True, False)]
    if not np.array_equal(*greedy):
        return Result(name, "FAIL", result.figure + "; greedy generation differs")
    return result


def _padding(model, ids):
    name = "padding leaves unpadded positions alone"
    B, T = ids.shape
    L = max(1, T // 2)
    mask = np.ones((B, T), dtype=np.int64)
    mask[0, L:] = 0
    padded = _out(model, ids, attention_mask=mask)[0, :L]
    alone = _out(model, ids[:1, :L], attention_mask=np.ones((1, L), dtype=np.int64))[0]
    if padded.ndim == 1:        # a sequence-level output (a classifier): compare it whole
        padded, alone = _out(model, ids, attention_mask=mask)[0], _out(model, ids[:1, :L])[0]
    return _compare(name, padded, alone, MODEL_TOLERANCE[_dtype(model)],
                    f"(first {L} of {T} positions)")


def _batch_rows(model, ids):
    batch = _out(model, ids)
    alone = np.stack([_out(model, ids[i:i + 1])[0] for i in range(ids.shape[0])])
    return _compare("a row of a batch equals that row alone", batch, alone,
                    MODEL_TOLERANCE[_dtype(model)], f"over {ids.shape[0]} rows")


def _threads(model, ids):
    import numba

    from ..kernels.numba import pair
    name = "1 thread equals 2 threads, bit for bit"
    if numba.config.NUMBA_NUM_THREADS < 2:
        return Result(name, "skip", "Numba has 1 thread here (NUMBA_NUM_THREADS)")
    saved_threads, saved_min = numba.get_num_threads(), pair.MIN_ELEMENTS
    outs = []
    try:
        pair.MIN_ELEMENTS = 0                       # both cores, even on small inputs
        for n in (1, 2):
            numba.set_num_threads(n)
            with use_backend("numba"):
                outs.append(_out(model, ids))
    finally:
        numba.set_num_threads(saved_threads)
        pair.MIN_ELEMENTS = saved_min
    same = outs[0].tobytes() == outs[1].tobytes()
    differ = int(np.sum(outs[0] != outs[1]))
    return Result(name, "pass" if same else "FAIL",
                  f"{differ} of {outs[0].size} values differ")


def _twin(model, ids):
    outs = []
    for backend in ("numpy", "numba"):
        with use_backend(backend):
            outs.append(_out(model, ids))
    return _compare("Numba kernels equal their NumPy twins", outs[1], outs[0],
                    MODEL_TOLERANCE[_dtype(model)], "(whole model)")


def _round_trip(model, ids):
    from ..models.registry import model_types
    from ..training.checkpoint import build_model, load_checkpoint, save_checkpoint
    name = "save and load round-trip bit-exactly"
    kind = next((k for k, (cls, _) in model_types().items() if type(model) is cls), None)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "saved")
        if kind is not None:            # minitx's checkpoint format
            save_checkpoint(path, model, {"model_type": kind, "model": model.config.to_dict()})
            loaded = build_model(load_checkpoint(path)).eval()
        elif hasattr(model, "save_pretrained"):     # a Hugging Face folder
            model.save_pretrained(path)
            loaded = type(model).from_pretrained(path, dtype=_dtype(model)).eval()
        else:
            return Result(name, "skip", f"{type(model).__name__} has no saved format")
    ours, theirs = model.state_dict(), loaded.state_dict()
    bad = [k for k in ours if k not in theirs or ours[k].dtype != theirs[k].dtype
           or ours[k].tobytes() != theirs[k].tobytes()]
    same_out = _out(model, ids).tobytes() == _out(loaded, ids).tobytes()
    if bad or not same_out:
        return Result(name, "FAIL", f"{len(bad)} arrays differ ({', '.join(bad[:3])})"
                      + ("" if same_out else "; outputs differ"))
    return Result(name, "pass", f"{len(ours)} arrays and the output identical")


def _reference(model, ids, reference):
    name = "no divergence from the reference"
    kwargs = {"input_ids": ids}
    found = first_divergence(model, reference, kwargs)
    if found is None:
        return Result(name, "pass", "every module within atol 1e-5, rtol 1e-4")
    return Result(name, "FAIL", str(found))
