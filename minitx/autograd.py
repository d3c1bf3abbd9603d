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


def _accumulate_leaf(t, g, owned=False):
    """Add g into t.grad. An `owned` g (fresh, referenced nowhere else) becomes
    t.grad as it is; any other is copied, since t.grad is later updated in place."""
    if t.grad is None:
        t.grad = g if owned else np.array(g, dtype=t.dtype, copy=True)
    else:
        t.grad += g


def _is_fresh(gi, node, handed):
    """True when no one else can hold gi: a writeable array that owns its memory,
    not handed to another input in this walk, and not kept by the node itself."""
    return (gi.base is None and gi.flags.writeable and id(gi) not in handed
            and not any(gi is s for s in node.saved_tensors)
            and not any(gi is v for v in vars(node).values()))


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
    # ids of the arrays already given to an input, and of the arrays behind the views
    # given: a gradient among them is shared (Add hands one array to both of its
    # inputs), so a leaf must copy it and a node's sum must not be formed in it. With
    # retain_graph a backward may hand out the same array again, so nothing is reused.
    handed = {id(grad)}
    owned = set()  # ids of sums in `grads` that no one else sees: added to in place
    for node in reversed(order):
        g = grads.pop(id(node), None)
        if g is not None:  # None: every path into this node carried no gradient
            owned.discard(id(g))  # owned holds only the sums still in grads
            _push_back(node, g, grads, None if retain_graph else handed, owned)
        if not retain_graph:
            node._release()


def _push_back(node, g, grads, handed, owned):
    """Run one node's backward and hand each input gradient to its edge.
    `handed` and `owned`: see backward; handed None means nothing is reused."""
    input_grads = node._fn.backward(node, g)
    if not isinstance(input_grads, tuple):
        input_grads = (input_grads,)
    if len(input_grads) != len(node._edges):
        raise RuntimeError(
            f"{node._fn.__name__}.backward returned {len(input_grads)} gradients "
            f"for {len(node._edges)} inputs")
    input_grads = [None if gi is None else np.asarray(gi) for gi in input_grads]
    if handed is not None:  # an array returned for two inputs, or with a view of it, is shared
        ids = [id(gi) for gi in input_grads if gi is not None]
        ids += [id(gi.base) for gi in input_grads if gi is not None and gi.base is not None]
        if len(set(ids)) < len(ids):
            handed.update(i for i in ids if ids.count(i) > 1)
    for e, gi in zip(node._edges, input_grads):
        if e is None or gi is None:
            continue
        leaf = isinstance(e, Tensor)
        shape, dtype = (e.shape, e.dtype) if leaf else (e._out_shape, e._out_dtype)
        if gi.shape != shape:
            raise RuntimeError(
                f"{node._fn.__name__}.backward returned a gradient of shape {gi.shape} "
                f"for an input of shape {shape}")
        if gi.dtype != dtype:  # as in PyTorch, a gradient has the dtype of its input
            gi = gi.astype(dtype)
        fresh = handed is not None and _is_fresh(gi, node, handed)
        if leaf:
            _accumulate_leaf(e, gi, owned=fresh)
        else:
            _accumulate_node(grads, owned, id(e), gi, fresh, handed is not None)
        if handed is not None:
            handed.add(id(gi))
            if gi.base is not None:
                handed.add(id(gi.base))


def _accumulate_node(grads, owned, key, gi, fresh, reuse):
    """Add gi into the pending gradient grads[key] of a node not yet run. A sum this
    walk made, or a fresh gi, is seen by no one else: later terms go into it in place
    (the residual stream of a transformer gets one term per layer)."""
    acc = grads.get(key)
    if acc is None:
        grads[key] = gi
        if fresh:
            owned.add(id(gi))
        else:  # (an id is reused once its array is gone)
            owned.discard(id(gi))
    elif id(acc) in owned:
        acc += gi
    else:
        grads[key] = acc + gi
        if reuse:
            owned.add(id(grads[key]))
