"""gradcheck: compare a backward with central finite differences in float64."""
import numpy as np

from ..autograd import no_grad
from ..tensor import Tensor


class GradcheckError(AssertionError):
    pass


def _as_tensor(out):
    if isinstance(out, (tuple, list)):
        raise TypeError("gradcheck: fn must return one Tensor")
    return out


def gradcheck(fn, *inputs, eps=1e-6, atol=1e-5, rtol=1e-3, seed=0):
    """Check the gradient of `fn` with respect to every input that requires grad.

    A fixed random cotangent v turns the output into the scalar L = sum(v * fn(...)).
    Its analytic gradient comes from one backward pass; its numerical gradient
    perturbs every element of every checked input by +-eps (central differences).
    Inputs must be float64 so that eps is far above rounding. Raises
    GradcheckError naming the input, the element and both values; returns True.
    The inputs' .grad are left as they were found, so a later backward adds onto the
    caller's gradient, not onto the checker's.
    """
    checked = [i for i, t in enumerate(inputs) if isinstance(t, Tensor) and t.requires_grad]
    if not checked:
        raise ValueError("gradcheck: no input requires grad")
    for i in checked:
        if inputs[i].dtype != np.float64:
            raise TypeError(f"gradcheck: input {i} is {inputs[i].dtype}; use float64")
    saved = {i: inputs[i].grad for i in checked}
    try:
        _check(fn, inputs, checked, eps, atol, rtol, seed)
    finally:
        for i, grad in saved.items():
            inputs[i].grad = grad
    return True


def _check(fn, inputs, checked, eps, atol, rtol, seed):
    for i, analytic, numeric in gradients(fn, inputs, checked, eps, seed):
        x = inputs[i].data
        bad = ~np.isclose(analytic, numeric, atol=atol, rtol=rtol)
        if bad.any():
            pos = tuple(int(k) for k in np.argwhere(bad)[0])
            raise GradcheckError(
                f"gradcheck: input {i} (shape {x.shape}) element {pos}: backward gives "
                f"{float(analytic[pos])!r}, finite differences give {float(numeric[pos])!r} "
                f"({int(bad.sum())} of {x.size} elements differ; max abs error "
                f"{np.max(np.abs(analytic - numeric)):.3g})")


def gradients(fn, inputs, checked, eps=1e-6, seed=0):
    """(i, analytic, numeric) for each index i in `checked`: the gradient of
    L = sum(v * fn(*inputs)), v a fixed random cotangent, from one backward and from
    central differences. Sets the checked inputs' .grad; the caller restores them."""
    for i in checked:
        inputs[i].grad = None
    out = _as_tensor(fn(*inputs))
    v = np.random.default_rng(seed).standard_normal(out.shape)
    if not out.requires_grad:
        raise GradcheckError("gradcheck: the output does not depend on any checked input")
    out.backward(v.astype(out.dtype))

    def loss():
        with no_grad():
            return float(np.sum(_as_tensor(fn(*inputs)).data.astype(np.float64) * v))

    result = []
    for i in checked:
        x = inputs[i].data
        analytic = inputs[i].grad if inputs[i].grad is not None else np.zeros_like(x)
        numeric = np.zeros_like(x)
        for pos in np.ndindex(x.shape):
            old = x[pos]
            x[pos] = old + eps
            up = loss()
            x[pos] = old - eps
            down = loss()
            x[pos] = old
            numeric[pos] = (up - down) / (2 * eps)
        result.append((i, analytic, numeric))
    return result
