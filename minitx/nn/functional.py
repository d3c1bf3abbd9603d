"""torch.nn.functional's names for minitx's fused kernels (see minitx/kernels/), and
linear_gelu, minitx's own: gelu(linear(x, w, b)) in one Function."""
from ..kernels.attention import qkv_attention, scaled_dot_product_attention
from ..kernels.cross_entropy import cross_entropy
from ..kernels.dropout import dropout
from ..kernels.embedding import embedding
from ..kernels.gelu import gelu
from ..kernels.layernorm import layer_norm
from ..kernels.linear import linear
from ..kernels.linear_gelu import linear_gelu
from ..kernels.position import sinusoidal_position_encoding
from ..kernels.rotary import rotary_embedding
from ..kernels.softmax import log_softmax, softmax
from ..ops import abs, exp, log, relu, sigmoid, tanh

__all__ = [
    "binary_cross_entropy_with_logits", "cross_entropy", "dropout", "embedding", "gelu", "layer_norm", "linear",
    "linear_gelu", "log_softmax", "qkv_attention", "relu", "rotary_embedding", "scaled_dot_product_attention",
    "sigmoid", "sinusoidal_position_encoding", "softmax", "tanh",
]


def binary_cross_entropy_with_logits(input, target):
    """Mean binary cross-entropy of logits `input` against targets of 0 and 1 (same shape),
    as torch's: max(x, 0) - x y + log(1 + exp(-|x|)), which no large |x| overflows."""
    return (relu(input) - input * target + log(exp(-abs(input)) + 1)).mean()
