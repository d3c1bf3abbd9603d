"""check_function: the checks minitx runs on its own ops, pointed at a function of
yours, over inputs that hypothesis draws (and shrinks when a check fails)."""
import numpy as np

from ..backend import use_backend
from ..tensor import Tensor
from ._gradcheck import gradients

CHECKS = ("gradients", "float32", "twin", "reference", "determinism", "retain_graph")

# The Numba kernel against its NumPy twin, as minitx's own kernel tests hold them:
# float32 results differ by rounding in another order, float64 ones by a few ulp.
TWIN_TOLERANCE = {np.dtype(np.float32): dict(rtol=2e-5, atol=2e-6),
                  np.dtype(np.float64): dict(rtol=1e-11, atol=1e-13)}

# float32 against float64 on the same (float32-rounded) inputs.
FLOAT32_TOLERANCE = dict(rtol=1e-4, atol=1e-4)


def check_function(fn, *arg_strategies, reference=None, max_examples=50, atol=1e-5, rtol=1e-4,
                   float32_tolerance=None, twin_tolerance=None, checks=CHECKS, eps=1e-6, seed=0):
    """Check `fn` on inputs drawn from `arg_strategies`, one strategy per argument.

    A strategy draws a NumPy array, a minitx Tensor or any other value (passed as is);
    a value that is not a strategy is a constant argument. Float arrays become Tensors
    that require grad, in float64 or float32 as each check needs. `fn` returns one
    Tensor. The checks, in this order (`checks` picks a subset):

    gradients     backward against central finite differences, in float64 (atol, rtol)
    float32       forward and gradients in float32 against float64 on the same values
                  (float32_tolerance, default FLOAT32_TOLERANCE); a float32 output too
    twin          the NumPy backend against the Numba one, forward and gradients, in
                  both dtypes (twin_tolerance, default TWIN_TOLERANCE); trivially equal
                  when fn dispatches to no fused kernel
                  (both: each element's atol grows by the rounding error it may carry,
                  large where terms cancel; see _Example.rounding_slack)
    reference     against `reference`, forward and gradients (atol, rtol): a torch
                  function (gradients by torch's autograd) or any callable on NumPy
                  float64 arrays (gradients by finite differences of it); skipped
                  when reference is None
    determinism   two runs, forward and gradients, give the same bits
    retain_graph  a second backward without retain_graph=True raises

    The gradients come from a fixed random cotangent v (seeded by `seed`): the scalar
    checked is sum(v * fn(...)). On failure raises AssertionError naming the check,
    the drawn example (shrunk by hypothesis) and the worst element. Returns None.
    """
    try:
        from hypothesis import HealthCheck, given, settings
        from hypothesis import strategies as st
    except ImportError as err:
        raise ImportError("check_function needs hypothesis, which is not installed: "
                          "pip install hypothesis (or pip install minitx[testing])") from err
    unknown = [c for c in checks if c not in CHECKS]
    if unknown:
        raise ValueError(f"check_function: unknown checks {unknown}; choose from {', '.join(CHECKS)}")
    strategies = [s if isinstance(s, st.SearchStrategy) else st.just(s) for s in arg_strategies]
    options = dict(reference=reference, atol=atol, rtol=rtol, eps=eps, seed=seed, checks=checks,
                   float32_tolerance=float32_tolerance or FLOAT32_TOLERANCE,
                   twin_tolerance={**TWIN_TOLERANCE, **{np.dtype(k): v for k, v in
                                                        (twin_tolerance or {}).items()}})

    @settings(max_examples=max_examples, deadline=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                     HealthCheck.filter_too_much])
    @given(st.tuples(*strategies))
    def run(args):
        _Example(fn, args, **options).check()

    run()


class _Example:
    """One drawn example and the checks on it."""

    def __init__(self, fn, args, reference, atol, rtol, eps, seed, checks, float32_tolerance,
                 twin_tolerance):
        self.fn, self.reference, self.checks = fn, reference, checks
        self.tol = dict(atol=atol, rtol=rtol)
        self.eps, self.seed = eps, seed
        self.float32_tolerance, self.twin_tolerance = float32_tolerance, twin_tolerance
        self.args = args
        self.values = [a.data if isinstance(a, Tensor) and _is_float(a.data) else a for a in args]
        self.floats = [i for i, a in enumerate(self.values) if _is_float(a)]
        self.check_name = None
        self.slack32 = None   # rounding_slack's measure, taken once per example

    # ---- running fn ---------------------------------------------------------
    def inputs(self, dtype, rounded=False, drawn=False):
        """The arguments with every float array as a fresh Tensor of `dtype` that
        requires grad, its axes in the drawn order; rounded: values rounded to float32
        first; drawn: a float array already of `dtype` is wrapped as drawn, strides and
        all (gradcheck perturbs it and puts every value back)."""
        out = list(self.values)
        for i in self.floats:
            a = self.values[i]
            if drawn and a.dtype == dtype:
                out[i] = Tensor(a, requires_grad=True)
                continue
            a = a.astype(np.float32, order="K") if rounded else a
            out[i] = Tensor(a.astype(dtype, order="K", copy=True), requires_grad=True)
        return out

    def call(self, inputs):
        out = self.fn(*inputs)
        if not isinstance(out, Tensor):
            self.fail(f"fn must return one Tensor, not {type(out).__name__}")
        return out

    def cotangent(self, shape):
        return np.random.default_rng(self.seed).standard_normal(shape)

    def run(self, inputs):
        """(output, [gradient of each float input]) of one forward and backward."""
        out = self.call(inputs)
        if out.requires_grad:
            out.backward(self.cotangent(out.shape).astype(out.dtype))
        grads = [inputs[i].grad if inputs[i].grad is not None else np.zeros_like(inputs[i].data)
                 for i in self.floats]
        return out.data, grads

    # ---- the checks ---------------------------------------------------------
    def check(self):
        for name in self.checks:
            if name == "reference" and self.reference is None:
                continue
            self.check_name = name
            try:
                getattr(self, "check_" + name)()
            except AssertionError:
                raise
            except Exception as err:
                self.fail(f"fn raised {type(err).__name__}: {err}", cause=err)

    def check_gradients(self):
        if not self.floats:
            return
        inputs = self.inputs(np.float64, drawn=True)
        for i, analytic, numeric in gradients(self.fn, inputs, self.floats, self.eps, self.seed):
            self.compare(f"gradient of argument {i} (backward vs finite differences)",
                         analytic, numeric, self.tol)

    def check_float32(self):
        out32, grads32 = self.run(self.inputs(np.float32, rounded=True))
        out64, grads64 = self.run(self.inputs(np.float64, rounded=True))
        if self.floats and out32.dtype != np.float32:
            self.fail(f"float32 inputs gave a {out32.dtype} output")
        slack = self.rounding_slack(np.float32)
        self.compare("output (float32 vs float64)", out32, out64, self.float32_tolerance, slack[0])
        for i, g32, g64, s in zip(self.floats, grads32, grads64, slack[1:]):
            self.compare(f"gradient of argument {i} (float32 vs float64)", g32, g64,
                         self.float32_tolerance, s)

    def check_twin(self):
        for dtype in (np.float64, np.float32):
            with use_backend("numpy"):
                out_np, grads_np = self.run(self.inputs(dtype))
            with use_backend("numba"):
                out_nb, grads_nb = self.run(self.inputs(dtype))
            tol = self.twin_tolerance[np.dtype(dtype)]
            name = np.dtype(dtype).name
            slack = self.rounding_slack(dtype)
            self.compare(f"{name} output (numba vs numpy twin)", out_nb, out_np, tol, slack[0])
            for i, g_nb, g_np, s in zip(self.floats, grads_nb, grads_np, slack[1:]):
                self.compare(f"{name} gradient of argument {i} (numba vs numpy twin)",
                             g_nb, g_np, tol, s)

    def rounding_slack(self, dtype):
        """[output, gradient of each float argument]: per element, the rounding error a
        result computed in `dtype` may carry beyond the tolerance. Where terms cancel, an
        element near zero carries the error of the terms that were summed, not its own:
        that is measured, in float64, as how far the element moves when every input moves
        by one float32 rounding (relative eps, two random draws), times 4, and scaled to
        `dtype`'s eps."""
        if self.slack32 is None:
            eps = np.finfo(np.float32).eps
            rng = np.random.default_rng(self.seed)
            base = self.run(self.inputs(np.float64))
            moved = []
            for _ in range(2):
                inputs = self.inputs(np.float64)
                for i in self.floats:
                    inputs[i].data *= 1 + eps * rng.uniform(-1, 1, inputs[i].shape)
                moved.append(self.run(inputs))
            self.slack32 = [4 * np.max([np.nan_to_num(np.abs(np.asarray(m, np.float64) - b)) for m in ms], axis=0)
                            for b, *ms in zip([base[0], *base[1]], *[[m[0], *m[1]] for m in moved])]
        ratio = np.finfo(dtype).eps / np.finfo(np.float32).eps
        return [s * ratio for s in self.slack32]

    def check_reference(self):
        out, grads = self.run(self.inputs(np.float64))
        if _is_torch_function(self.reference):
            ref_out, ref_grads = self.torch_reference()
        else:
            ref_out, ref_grads = self.numpy_reference()
        self.compare("output (fn vs reference)", out, ref_out, self.tol)
        for i, g, r in zip(self.floats, grads, ref_grads):
            self.compare(f"gradient of argument {i} (fn vs reference)", g, r, self.tol)

    def torch_reference(self):
        import torch
        args = []
        for v in self.values:
            if _is_float(v):
                args.append(torch.tensor(np.array(v, dtype=np.float64), requires_grad=True))
            else:
                args.append(torch.from_numpy(np.array(v)) if isinstance(v, np.ndarray) else v)
        out = self.reference(*args)
        if any(args[i].requires_grad for i in self.floats) and out.requires_grad:
            out.backward(torch.from_numpy(self.cotangent(out.shape)).to(out.dtype))
        grads = [args[i].grad.numpy() if args[i].grad is not None else np.zeros(args[i].shape)
                 for i in self.floats]
        return out.detach().numpy(), grads

    def numpy_reference(self):
        args = [np.array(v, dtype=np.float64) if _is_float(v) else v for v in self.values]
        out = np.asarray(self.reference(*args), dtype=np.float64)
        v = self.cotangent(out.shape)
        grads = []
        for i in self.floats:
            x = args[i]
            g = np.zeros_like(x)
            for pos in np.ndindex(x.shape):
                old = x[pos]
                x[pos] = old + self.eps
                up = np.sum(np.asarray(self.reference(*args), dtype=np.float64) * v)
                x[pos] = old - self.eps
                down = np.sum(np.asarray(self.reference(*args), dtype=np.float64) * v)
                x[pos] = old
                g[pos] = (up - down) / (2 * self.eps)
            grads.append(g)
        return out, grads

    def check_determinism(self):
        for dtype in (np.float32, np.float64):
            first = self.run(self.inputs(dtype))
            second = self.run(self.inputs(dtype))
            for what, a, b in [("output", first[0], second[0])] + [
                    (f"gradient of argument {i}", ga, gb)
                    for i, ga, gb in zip(self.floats, first[1], second[1])]:
                if a.shape != b.shape or a.tobytes() != b.tobytes():
                    self.compare(f"{np.dtype(dtype).name} {what} (run 1 vs run 2, bit for bit)",
                                 a, b, dict(atol=0, rtol=0))

    def check_retain_graph(self):
        out = self.call(self.inputs(np.float64))
        if not out.requires_grad or out._ctx is None:
            return
        v = self.cotangent(out.shape)
        out.backward(v)
        try:
            out.backward(v)
        except RuntimeError:
            return
        self.fail("a second backward without retain_graph=True did not raise")

    # ---- reporting ----------------------------------------------------------
    def compare(self, what, got, want, tol, slack=0.0):
        """got within atol + rtol |want| + slack of want, elementwise (slack: an array of
        the rounding error each element may carry, from rounding_slack)."""
        got, want = np.asarray(got), np.asarray(want)
        if got.shape != want.shape:
            self.fail(f"{what}: shapes {got.shape} and {want.shape} differ")
        g, w = got.astype(np.float64), want.astype(np.float64)
        exact = tol["atol"] == 0 and tol["rtol"] == 0
        tol = dict(tol, atol=tol["atol"] + slack)
        bad = ~np.isclose(g, w, equal_nan=True, **tol)
        if exact:
            bad = g.view(np.uint64) != w.view(np.uint64) if g.size else bad
        if not bad.any():
            return
        with np.errstate(invalid="ignore", divide="ignore"):
            diff = np.abs(g - w)
            excess = np.where(bad, np.nan_to_num(diff - tol["atol"] - tol["rtol"] * np.abs(w),
                                                 nan=np.inf), -np.inf)
            pos = tuple(int(k) for k in np.unravel_index(np.argmax(excess), g.shape))
            rel = diff / np.abs(w)
        finite = np.isfinite(diff)
        max_abs = float(np.max(diff[finite])) if finite.any() else float("nan")
        max_rel = float(np.max(rel[finite & np.isfinite(rel)])) if (finite & np.isfinite(rel)).any() \
            else float("nan")
        atol = np.broadcast_to(tol["atol"], g.shape)[pos]   # with the rounding slack of that element
        self.fail(f"{what}: {int(bad.sum())} of {g.size} elements differ beyond atol={atol:g}"
                  f"{' (with rounding slack)' if np.any(slack) else ''}, "
                  f"rtol={tol['rtol']:g}; worst at element {pos}: {got[pos]!r} vs {want[pos]!r} "
                  f"(max abs diff {max_abs:.3g}, max rel diff {max_rel:.3g})")

    def fail(self, message, cause=None):
        owner = getattr(self.fn, "__self__", None)      # Function.apply is bound to the class
        name = (f"{owner.__name__}.{self.fn.__name__}" if isinstance(owner, type)
                else getattr(self.fn, "__qualname__", repr(self.fn)))
        raise AssertionError(f"check_function({name}): check '{self.check_name}' failed: "
                             f"{message}\nexample:\n{_describe(self.args)}") from cause


def _is_float(a):
    return isinstance(a, np.ndarray) and np.issubdtype(a.dtype, np.floating)


def _is_torch_function(fn):
    """A torch function, one marked by torch_reference, or a function whose code names
    `torch` (lambda x: torch.softmax(x, -1))."""
    module = getattr(fn, "__module__", None) or getattr(type(fn), "__module__", "") or ""
    code = getattr(fn, "__code__", None)
    return (module.split(".")[0] == "torch" or getattr(fn, "minitx_torch_reference", False)
            or (code is not None and "torch" in code.co_names + code.co_freevars))


def torch_reference(fn):
    """Mark `fn` (e.g. a lambda over torch functions) as taking and returning torch
    tensors, so check_function hands it torch tensors and takes its gradients from
    torch's autograd. torch functions themselves are recognised without it."""
    fn.minitx_torch_reference = True
    return fn


def _describe(args):
    lines = []
    with np.printoptions(precision=17, threshold=200):
        for i, a in enumerate(args):
            data = a.data if isinstance(a, Tensor) else a
            if isinstance(data, np.ndarray):
                layout = "" if data.flags.c_contiguous else f", non-contiguous strides {data.strides}"
                kind = "Tensor" if isinstance(a, Tensor) else "ndarray"
                lines.append(f"  argument {i}: {kind} shape {data.shape} {data.dtype}{layout}\n    "
                             + np.array2string(data, separator=", ").replace("\n", "\n    "))
            else:
                lines.append(f"  argument {i}: {a!r}")
    return "\n".join(lines)
