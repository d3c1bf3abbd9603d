"""minitx.testing: checks for your own ops and models (docs/testing.md).

gradcheck         a backward against finite differences, on one input
check_function    gradients, float32, twin vs Numba, a reference, determinism and
                  retain_graph, on inputs hypothesis draws
first_divergence  the first module where a model and a reference (transformers, or
                  another minitx model) part
strategies        hypothesis strategies: shapes, layouts, tensors, masks, token ids
                  (imported on use: `from minitx.testing import strategies`)

hypothesis is needed by check_function and strategies only.
"""
from ._gradcheck import GradcheckError, gradcheck
from .divergence import Divergence, first_divergence
from .functions import CHECKS, FLOAT32_TOLERANCE, TWIN_TOLERANCE, check_function, torch_reference

__all__ = ["CHECKS", "Divergence", "FLOAT32_TOLERANCE", "GradcheckError", "TWIN_TOLERANCE",
           "check_function", "first_divergence", "gradcheck", "torch_reference"]
