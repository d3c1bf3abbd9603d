"""The global random generator: one seed makes every draw reproducible."""
import numpy as np

_generator = np.random.default_rng(0)


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
