"""Embedding, compiled: serial loops with the twin's signatures (kernels/embedding.py)."""
import numpy as np

from ._jit import njit


# Both kernels are serial loops. Copying or adding N rows of C (N=2048, C=384 at the
# GPT shape) is memory-bound and short: a parallel launch costs as much as the work,
# and far more when the other core is busy. Serial, the backward adds
# the rows of one id in the order of the ids: the same sums on every run.

@njit
def _forward_kernel(ids, weight):
    N, C = ids.shape[0], weight.shape[1]            # ids: (N,); weight: (V, C)
    out = np.empty((N, C), dtype=weight.dtype)      # (N, C)
    for n in range(N):
        v = ids[n]
        for c in range(C):
            out[n, c] = weight[v, c]
    return out


@njit
def _backward_kernel(ids, dout, dweight, padding_idx):
    N, C = dout.shape                               # ids: (N,); dout: (N, C); dweight: (V, C) zeros
    for n in range(N):
        v = ids[n]
        if v != padding_idx:                        # out[n] = weight[ids[n]]
            for c in range(C):
                dweight[v, c] += dout[n, c]


def embedding_forward(ids, weight):
    # writable C arrays: a read-only one is another type to Numba, another compile
    return _forward_kernel(*(np.require(a, requirements="CW") for a in (ids, weight)))


def embedding_backward(ids, dout, V, padding_idx):
    ids, dout = (np.require(a, requirements="CW") for a in (ids, dout))
    # np.zeros here, not in the kernel: NumPy's zeros are lazily zeroed pages, so the
    # rows of a 50257-row vocabulary that no id touches cost nothing yet.
    dweight = np.zeros((V, dout.shape[1]), dtype=dout.dtype)
    _backward_kernel(ids, dout, dweight, padding_idx)
    return dweight
