"""The backward walk's memory policy: when a gradient array may be added into in place.

The walk (autograd.backward) only says "add this gradient into that leaf" or "into
that node's pending sum". Done naively, every sum is a new array: the residual
stream of an L-layer transformer gets L of them per step. This policy adds later
terms into an earlier array in place whenever no one else can see that array:

- a *fresh* array: it owns its memory, is writeable, was not handed to another
  input in this walk (Add returns one array for both of its inputs), and is not
  kept by the node that made it (in its saved tensors or attributes);
- a sum this walk made itself (`owned`), while it is still pending.

A leaf keeps a fresh gradient as its .grad; any other is copied first, since
.grad is updated in place later. With retain_graph a backward may hand out the
same array again, so nothing is reused (`reuse=False`).
"""
import numpy as np


def add_to_leaf_grad(t, g, fresh=False):
    """t.grad += g. A fresh g becomes t.grad as it is; any other is copied."""
    if t.grad is None:
        t.grad = g if fresh else np.array(g, dtype=t.dtype, copy=True)
    else:
        t.grad += g


class GradBuffers:
    """One backward walk's record of which gradient arrays are shared and which it owns."""

    def __init__(self, root_grad, reuse):
        self.reuse = reuse
        # ids of the arrays already given to an input, and of the arrays behind views
        # given: a gradient among them is shared.
        self.handed = {id(root_grad)}
        self.owned = set()  # ids of pending sums no one else sees (an id is reused once its array is gone)

    def taken(self, g):
        """The walk took node's pending sum g out to run the node's backward."""
        self.owned.discard(id(g))

    def note_siblings(self, input_grads):
        """An array one backward returned for two inputs, or with a view of it, is shared."""
        if not self.reuse:
            return
        ids = [id(gi) for gi in input_grads if gi is not None]
        ids += [id(gi.base) for gi in input_grads if gi is not None and gi.base is not None]
        if len(set(ids)) < len(ids):
            self.handed.update(i for i in ids if ids.count(i) > 1)

    def add_to_leaf(self, leaf, gi, node):
        add_to_leaf_grad(leaf, gi, fresh=self._fresh(gi, node))
        self._hand(gi)

    def add_to_pending(self, pending, key, gi, node):
        """pending[key] += gi, in place when the sum is one no one else sees."""
        fresh = self._fresh(gi, node)
        acc = pending.get(key)
        if acc is None:
            pending[key] = gi
            if fresh:
                self.owned.add(id(gi))
            else:
                self.owned.discard(id(gi))
        elif id(acc) in self.owned:
            acc += gi
        else:
            pending[key] = acc + gi
            if self.reuse:
                self.owned.add(id(pending[key]))
        self._hand(gi)

    def _fresh(self, gi, node):
        return (self.reuse and gi.base is None and gi.flags.writeable and id(gi) not in self.handed
                and not any(gi is s for s in node.saved_tensors)
                and not any(gi is v for v in vars(node).values()))

    def _hand(self, gi):
        if self.reuse:
            self.handed.add(id(gi))
            if gi.base is not None:
                self.handed.add(id(gi.base))
