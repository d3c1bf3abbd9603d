"""Pictures of what the code computes: attention maps, position tables, the
distributions generation samples from, loss curves. matplotlib is an optional
extra (`pip install minitx[viz]`); `import minitx` never imports it.

Every function draws on its own Figure with the Agg canvas (no pyplot, no global
backend switched), saves a PNG when given `path`, and returns the Figure.
"""
try:
    import matplotlib  # noqa: F401
except ImportError:
    raise ImportError("minitx.viz draws with matplotlib, which is not installed: pip install minitx[viz]") from None

from .attention import attention_map
from .loss import loss_curves
from .position import position_encoding_map, position_similarity
from .sampling import sampling_distributions

__all__ = ["attention_map", "loss_curves", "position_encoding_map", "position_similarity",
           "sampling_distributions"]
