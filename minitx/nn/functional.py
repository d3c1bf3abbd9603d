"""torch.nn.functional's names for minitx's fused kernels (see minitx/kernels/), and
minitx's own: linear_gelu, gelu(linear(x, w, b)) in one Function, and rnn_sequence,
lstm_sequence, gru_sequence, a recurrent layer's steps over time in one Function."""
from ..kernels.attention import qkv_attention, scaled_dot_product_attention
from ..kernels.cross_entropy import cross_entropy
from ..kernels.dropout import dropout
from ..kernels.embedding import embedding
from ..kernels.gelu import gelu
from ..kernels.gru import gru_sequence
from ..kernels.layernorm import layer_norm
from ..kernels.linear import linear
from ..kernels.linear_gelu import linear_gelu
from ..kernels.lstm import lstm_sequence
from ..kernels.position import sinusoidal_position_encoding
from ..kernels.rnn import rnn_sequence
from ..kernels.softmax import log_softmax, softmax
from ..ops import abs, exp, log, relu, sigmoid, tanh

__all__ = [
    "binary_cross_entropy_with_logits", "cross_entropy", "dropout", "embedding", "gelu", "gru_sequence",
    "layer_norm", "linear", "linear_gelu", "log_softmax", "lstm_sequence", "qkv_attention", "relu",
    "rnn_sequence", "scaled_dot_product_attention", "sigmoid", "sinusoidal_position_encoding", "softmax", "tanh",
]


def binary_cross_entropy_with_logits(input, target):
    """Mean binary cross-entropy of logits `input` against targets of 0 and 1 (same shape),
    as torch's: max(x, 0) - x y + log(1 + exp(-|x|)), which no large |x| overflows."""
    return (relu(input) - input * target + log(exp(-abs(input)) + 1)).mean()
