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

from .grad_buffers import GradBuffers, add_to_leaf_grad
from .tensor import Tensor

_grad_enabled = True


def is_grad_enabled():
    return _grad_enabled


class _GradMode(contextlib.ContextDecorator):
    def __init__(self, enabled):
        self.enabled = enabled
        # A stack, not one slot: a decorated function that recurses enters the
        # same instance again before leaving it.
        self.previous = []

    def __enter__(self):
        global _grad_enabled
        self.previous.append(_grad_enabled)
        _grad_enabled = self.enabled

    def __exit__(self, *exc):
        global _grad_enabled
        _grad_enabled = self.previous.pop()
        return False


def no_grad():
    """Context manager and decorator: build no graph inside."""
    return _GradMode(False)


def enable_grad():
    return _GradMode(True)


class Context:
    """What a forward leaves for its backward; also the graph node of the call.

    The forward's leftovers (saved arrays, needs_input_grad, any attribute an op
    sets) live in the instance __dict__; the graph fields live in __slots__, so
    freeing the leftovers after backward is one __dict__.clear().
    """

    __slots__ = ("_fn", "_edges", "_out_shape", "_out_dtype", "_freed", "__dict__")

    def __init__(self):
        self.saved_tensors = ()
        self.needs_input_grad = ()
        self._fn = None
        self._edges = ()   # per forward input: its node, itself (a leaf), or None
        self._out_shape = ()   # shape and dtype of the output this node made
        self._out_dtype = None
        self._freed = False

    def save_for_backward(self, *arrays):
        self.saved_tensors = arrays

    def _release(self):
        # Drop what the forward stored and the edges to the inputs, so the memory
        # of activations goes back as soon as the walk is past them.
        self.__dict__.clear()
        self._edges = ()
        self._freed = True


def _edge(a):
    """Where the gradient of one forward input goes: the node that made it, the
    leaf itself, or nowhere. The graph holds edges, not the input tensors, so an
    activation no backward saved is freed as soon as the user drops it."""
    if not isinstance(a, Tensor) or not a._requires_grad:
        return None
    return a if a._ctx is None else a._ctx


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
        edges = [_edge(a) for a in args]
        ctx.needs_input_grad = tuple([e is not None for e in edges])
        raw = [a.data if isinstance(a, Tensor) else a for a in args]
        out = Tensor(np.asarray(cls.forward(ctx, *raw, **kwargs)))
        # Only floating outputs carry gradients (an argmax or a cast to int does not).
        if _grad_enabled and out.data.dtype.kind == "f" and any(ctx.needs_input_grad):
            ctx._fn, ctx._edges = cls, tuple(edges)
            ctx._out_shape, ctx._out_dtype = out.data.shape, out.data.dtype
            out._requires_grad = True
            out._ctx = ctx
        return out


def _topological_order(root):
    """Nodes reachable from `root`, inputs before users; iterative, no recursion.

    Depth-first post-order: a node is appended once everything below it is.
    A node is marked when expanded, not when pushed, so a node pushed early by
    one user and reached again below another still lands after its inputs.
    """
    order, expanded = [], set()
    stack = [(root, False)]
    while stack:
        node, done = stack.pop()
        if done:
            order.append(node)
            continue
        if id(node) in expanded:
            continue
        expanded.add(id(node))
        stack.append((node, True))
        for e in node._edges:
            if isinstance(e, Context) and id(e) not in expanded:
                stack.append((e, False))
    return order


_on_leaf_ready = None   # set by on_leaf_ready: fn(leaf), called once each leaf's grad is final


@contextlib.contextmanager
def on_leaf_ready(fn):
    """Inside, every backward calls fn(leaf) for each leaf of its graph as soon as the
    walk has run the last node that adds to leaf.grad (leaf.grad may be None: no
    gradient reached it). Data-parallel training starts a leaf's allreduce there,
    while the walk goes on below it (minitx/distributed/buckets.py)."""
    global _on_leaf_ready
    previous, _on_leaf_ready = _on_leaf_ready, fn
    try:
        yield
    finally:
        _on_leaf_ready = previous


def _leaves_done_after(order):
    """{id(node): [leaves]}: the leaves whose last contribution comes from that node.
    The walk runs `order` backwards, so a leaf's last writer is its first user in `order`."""
    done, seen = {}, set()
    for node in order:
        for e in node._edges:
            if isinstance(e, Tensor) and id(e) not in seen:
                seen.add(id(e))
                done.setdefault(id(node), []).append(e)
    return done


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
        add_to_leaf_grad(tensor, grad)
        if _on_leaf_ready is not None:
            _on_leaf_ready(tensor)
        return
    order = _topological_order(tensor._ctx)
    if any(node._freed for node in order):
        raise RuntimeError(
            "backward: trying to backward through the graph a second time; its saved "
            "arrays were freed. Pass retain_graph=True to the first backward call.")
    # The algorithm: outputs before inputs, each node's backward run once on the sum of
    # the gradients its users pushed to it. `buffers` decides where sums may be formed
    # in place (minitx/grad_buffers.py); the walk itself does not depend on it.
    pending = {id(tensor._ctx): grad}
    buffers = GradBuffers(grad, reuse=not retain_graph)
    ready, done_after = _on_leaf_ready, _leaves_done_after(order) if _on_leaf_ready is not None else {}
    for node in reversed(order):
        g = pending.pop(id(node), None)
        if g is not None:  # None: every path into this node carried no gradient
            buffers.taken(g)
            for edge, gi in _input_grads(node, g, buffers):
                if isinstance(edge, Tensor):
                    buffers.add_to_leaf(edge, gi, node)
                else:
                    buffers.add_to_pending(pending, id(edge), gi, node)
        if not retain_graph:
            node._release()
        for leaf in done_after.pop(id(node), ()):
            ready(leaf)


def _input_grads(node, g, buffers):
    """Run one node's backward: (edge, gradient) for each input that takes one,
    checked against the input's shape and cast to its dtype."""
    input_grads = node._fn.backward(node, g)
    if not isinstance(input_grads, tuple):
        input_grads = (input_grads,)
    if len(input_grads) != len(node._edges):
        raise RuntimeError(
            f"{node._fn.__name__}.backward returned {len(input_grads)} gradients "
            f"for {len(node._edges)} inputs")
    input_grads = [None if gi is None else np.asarray(gi) for gi in input_grads]
    buffers.note_siblings(input_grads)
    out = []
    for e, gi in zip(node._edges, input_grads):
        if e is None or gi is None:
            continue
        shape, dtype = (e.shape, e.dtype) if isinstance(e, Tensor) else (e._out_shape, e._out_dtype)
        if gi.shape != shape:
            raise RuntimeError(
                f"{node._fn.__name__}.backward returned a gradient of shape {gi.shape} "
                f"for an input of shape {shape}")
        if gi.dtype != dtype:  # as in PyTorch, a gradient has the dtype of its input
            gi = gi.astype(dtype)
        out.append((e, gi))
    return out
