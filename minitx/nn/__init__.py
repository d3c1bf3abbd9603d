"""Layers and models' building blocks, named as in torch.nn."""
from . import functional, utils
from .containers import ModuleDict, ModuleList, Sequential
from .layers import GELU, Dropout, Embedding, Identity, LayerNorm, Linear, ReLU, Tanh
from .module import Module
from .parameter import Parameter
from .transformer import MLP, Block, BlockConfig, ForwardContext, KVCache, SelfAttention

__all__ = [
    "Block", "BlockConfig", "Dropout", "Embedding", "ForwardContext", "GELU", "Identity", "KVCache", "LayerNorm", "Linear",
    "MLP", "Module", "ModuleDict", "ModuleList", "Parameter", "ReLU", "SelfAttention",
    "Sequential", "Tanh", "functional", "utils",
]
