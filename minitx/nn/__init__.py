"""Layers and models' building blocks, named as in torch.nn."""
from . import functional, utils
from .containers import ModuleDict, ModuleList, Sequential
from .layers import GELU, Dropout, Embedding, Identity, LayerNorm, Linear, ReLU, Tanh
from .module import Module
from .parameter import Parameter
from .rnn import GRU, LSTM, RNN
from .transformer import MLP, Block, KVCache, SelfAttention

__all__ = [
    "Block", "Dropout", "Embedding", "GELU", "GRU", "Identity", "KVCache", "LSTM", "LayerNorm", "Linear",
    "MLP", "Module", "ModuleDict", "ModuleList", "Parameter", "RNN", "ReLU", "SelfAttention",
    "Sequential", "Tanh", "functional", "utils",
]
