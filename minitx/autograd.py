"""Reverse-mode autograd: `Function`, the backward walk, and `no_grad`.

Every differentiable op is a `Function` subclass with two static methods that
stand side by side:

    class Exp(Function):
        @staticmethod
        def forward(ctx, a):            # a: np.ndarray
            out = np.exp(a)
            ctx.save_for_backward(out)
            return out
        @staticmethod
        def backward(ctx, grad):        # grad: dL/d out, shaped like out
            (out,) = ctx.saved_tensors
            return grad * out           # dL/da = dL/dout * exp(a)

`Exp.apply(x)` runs forward on the NumPy arrays behind the Tensor arguments
(non-Tensor arguments pass through unchanged), wraps the result in a Tensor and,
when any input needs a gradient, records the call as a node of the graph.
`backward` returns one gradient per positional input (None where there is
none); gradients are NumPy arrays shaped like the inputs.
"""
import contextlib

import numpy as np

from .tensor import Tensor

_grad_enabled = True


def is_grad_enabled():
    return _grad_enabled


class _GradMode(contextlib.ContextDecorator):
    def __init__(self, enabled):
        self.enabled = enabled

    def __enter__(self):
        global _grad_enabled
        self.previous = _grad_enabled
        _grad_enabled = self.enabled

    def __exit__(self, *exc):
        global _grad_enabled
        _grad_enabled = self.previous
        return False


def no_grad():
    """Context manager and decorator: build no graph inside."""
    return _GradMode(False)


def enable_grad():
    return _GradMode(True)


class Context:
    """What a forward leaves for its backward; also the graph node of the call."""

    def __init__(self):
        self.saved_tensors = ()
        self.needs_input_grad = ()
        self._fn = None
        self._inputs = ()
        self._freed = False

    def save_for_backward(self, *arrays):
        self.saved_tensors = arrays

    def _release(self):
        # Drop everything the forward stored (saved arrays and attributes) so the
        # memory of the activations goes back as soon as the walk is past them.
        for name in [k for k in self.__dict__ if not k.startswith("_")]:
            delattr(self, name)
        self.saved_tensors = ()
        self._freed = True


class Function:
    """Base class of differentiable ops: subclass with forward and backward."""

    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise NotImplementedError

    @staticmethod
    def backward(ctx, grad_output):
        raise NotImplementedError

    @classmethod
    def apply(cls, *args, **kwargs):
        ctx = Context()
        needs = tuple(isinstance(a, Tensor) and a.requires_grad for a in args)
        ctx.needs_input_grad = needs
        raw = [a.data if isinstance(a, Tensor) else a for a in args]
        out = Tensor(np.asarray(cls.forward(ctx, *raw, **kwargs)))
        if _grad_enabled and any(needs) and np.issubdtype(out.data.dtype, np.floating):
            ctx._fn = cls
            ctx._inputs = tuple(a if isinstance(a, Tensor) else None for a in args)
            out._requires_grad = True
            out._ctx = ctx
        return out


def _topological_order(root):
    """Nodes reachable from `root`, inputs before users; iterative, no recursion."""
    order, seen = [], {id(root)}
    stack = [(root, False)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        stack.append((node, True))
        for t in node._inputs:
            if t is not None and t._ctx is not None and id(t._ctx) not in seen:
                seen.add(id(t._ctx))
                stack.append((t._ctx, False))
    return order


def _accumulate_leaf(t, g):
    if t.grad is None:
        t.grad = np.array(g, dtype=t.dtype, copy=True)
    else:
        t.grad += g


def backward(tensor, grad=None, retain_graph=False):
    """Accumulate d tensor / d leaf into `.grad` of every leaf that requires grad."""
    if not tensor.requires_grad:
        raise RuntimeError("backward: tensor does not require grad and has no graph")
    if grad is None:
        if tensor.data.size != 1:
            raise RuntimeError(
                f"backward: grad can be created implicitly only for a scalar output; "
                f"got shape {tensor.shape}, pass grad= of that shape")
        grad = np.ones_like(tensor.data)
    else:
        grad = np.asarray(grad.data if isinstance(grad, Tensor) else grad, dtype=tensor.dtype)
        if grad.shape != tensor.shape:
            raise ValueError(f"backward: grad of shape {grad.shape} for a tensor of shape {tensor.shape}")
    if tensor._ctx is None:
        _accumulate_leaf(tensor, grad)
        return
    order = _topological_order(tensor._ctx)
    if any(node._freed for node in order):
        raise RuntimeError(
            "backward: trying to backward through the graph a second time; its saved "
            "arrays were freed. Pass retain_graph=True to the first backward call.")
    grads = {id(tensor._ctx): grad}
    for node in reversed(order):
        g = grads.pop(id(node), None)
        if g is None:  # every path into this node carried no gradient
            if not retain_graph:
                node._release()
            continue
        input_grads = node._fn.backward(node, g)
        if not isinstance(input_grads, tuple):
            input_grads = (input_grads,)
        if len(input_grads) != len(node._inputs):
            raise RuntimeError(
                f"{node._fn.__name__}.backward returned {len(input_grads)} gradients "
                f"for {len(node._inputs)} inputs")
        for t, gi in zip(node._inputs, input_grads):
            if t is None or gi is None or not t.requires_grad:
                continue
            gi = np.asarray(gi)
            if gi.shape != t.shape:
                raise RuntimeError(
                    f"{node._fn.__name__}.backward returned a gradient of shape {gi.shape} "
                    f"for an input of shape {t.shape}")
            if t._ctx is None:
                _accumulate_leaf(t, gi)
            else:
                key = id(t._ctx)
                grads[key] = gi if key not in grads else grads[key] + gi
        if not retain_graph:
            node._release()

