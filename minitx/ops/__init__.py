"""Differentiable ops on Tensors, each a Function with a hand-written backward."""
from .arithmetic import add, cast, div, mul, neg, pow, sub
from .index import getitem, index_arrays
from .matmul import matmul
from .reduce import argmax, argmin, max, mean, min, sum, var
from .select import eq, ge, gt, le, logical_not, lt, masked_fill, ne, where
from .shape import (cat, chunk, clone, contiguous, expand, flatten, permute, reshape, split,
                    squeeze, stack, transpose, unsqueeze, view)
from .unary import abs, exp, log, relu, sigmoid, sqrt, tanh

__all__ = [
    "abs", "add", "argmax", "argmin", "cast", "cat", "chunk", "clone", "contiguous", "div",
    "eq", "exp", "expand", "flatten", "ge", "getitem", "gt", "index_arrays", "le", "log",
    "logical_not", "lt", "masked_fill", "matmul", "max", "mean", "min", "mul", "ne", "neg",
    "permute", "pow", "relu", "reshape", "sigmoid", "split", "sqrt", "squeeze", "stack",
    "sub", "sum", "tanh", "transpose", "unsqueeze", "var", "view", "where",
]
