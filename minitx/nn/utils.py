"""torch.nn.utils's place for gradient clipping; the implementation is in minitx.optim.clip."""
from ..optim.clip import clip_grad_norm_

__all__ = ["clip_grad_norm_"]
