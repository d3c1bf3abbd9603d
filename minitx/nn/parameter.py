"""Parameter: a leaf Tensor that a Module registers as learnable."""
import numpy as np

from ..tensor import Tensor


class Parameter(Tensor):
    """A Tensor that requires grad and that Module attributes register by type."""

    def __init__(self, data, requires_grad=True):
        super().__init__(data.data if isinstance(data, Tensor) else np.asarray(data),
                         requires_grad=requires_grad)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()
