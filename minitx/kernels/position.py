"""The Transformer paper's sinusoidal position table (Vaswani et al. 2017, section 3.5).

    pe[pos, 2i]     = sin(pos / 10000^(2i / C))
    pe[pos, 2i + 1] = cos(pos / 10000^(2i / C))

Shape (T, C), float32. An odd C ends on a sin channel with no cos partner.
It is built once per model and has no gradient, so NumPy alone: a Numba
version would only add compile time.
"""
import numpy as np

from ..tensor import Tensor


def sinusoidal_position_encoding(T, C):
    """(T, C) float32 table: sin on even channels, cos on odd, frequency 1 / 10000^(2i/C)."""
    if T < 0 or C < 1:
        raise ValueError(f"sinusoidal_position_encoding: need T >= 0 and C >= 1, got T={T}, C={C}")
    pos = np.arange(T, dtype=np.float64)[:, None]             # (T, 1)
    two_i = np.arange(0, C, 2, dtype=np.float64)               # (ceil(C/2),) the even channels
    angle = pos / 10000.0 ** (two_i / C)                       # (T, ceil(C/2))
    pe = np.empty((T, C), dtype=np.float64)
    pe[:, 0::2] = np.sin(angle)
    pe[:, 1::2] = np.cos(angle[:, : C // 2])                   # channel 2i+1 shares 2i's frequency
    return Tensor(pe.astype(np.float32))
