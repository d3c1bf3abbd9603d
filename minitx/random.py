"""The global random generator: one seed makes every draw reproducible.

Dropout draws its uniforms through `uniform`. Inside a `per_sample(key, first)`
block, row i of a (B, ...) draw comes from a generator of its own, seeded by
(key, first + i): a sample's dropout mask then depends on its place in the
global batch, not on which process or which slice of the batch computed it.
The Trainer opens one such block per micro-batch, so a data-parallel run over N
processes drops the same elements as a single process (minitx/distributed).
"""
import contextlib

import numpy as np

_generator = np.random.default_rng(0)
_samples = None   # inside per_sample: [key, first, {row: generator}]


def manual_seed(seed):
    """Reseed the generator behind randn, rand, randint, init and dropout."""
    global _generator
    _generator = np.random.default_rng(int(seed))
    return _generator


def default_generator():
    return _generator


def get_rng_state():
    """A JSON-friendly snapshot of the generator, for checkpoints."""
    return _generator.bit_generator.state


def set_rng_state(state):
    _generator.bit_generator.state = state


@contextlib.contextmanager
def per_sample(key, first=0):
    """Inside, `uniform((B, ...))` draws row i from the generator of sample first + i,
    seeded by (key, first + i) and kept for the block's later draws."""
    global _samples
    previous, _samples = _samples, [int(key), int(first), {}]
    try:
        yield
    finally:
        _samples = previous


def uniform(shape):
    """float32 draws in [0, 1) of `shape`, for dropout masks: from the global generator,
    or, inside per_sample, row by row from the generators of the samples."""
    if _samples is None or not shape:
        return _generator.random(shape, dtype=np.float32)
    key, first, generators = _samples
    out = np.empty(shape, np.float32)   # (B, ...)
    for i in range(shape[0]):
        g = generators.get(i)
        if g is None:
            g = generators[i] = np.random.default_rng([key, first + i])
        g.random(shape[1:], dtype=np.float32, out=out[i])
    return out
