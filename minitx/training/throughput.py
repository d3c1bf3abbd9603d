"""The tokens/s a training run reports: the rate of its training steps.

A run's wall time also holds what does not grow with the steps, or does not
shrink with more MPI ranks: start-up, the first step (it compiles the Numba
kernels, or loads them from the cache), each evaluation and each checkpoint
save. Counted in, they make a short run look slow and hide what data
parallelism gains (each rank compiles every kernel itself; rank 0 writes every
checkpoint while the others wait). So the figure is the global tokens of the
steps after this process's first, over the seconds those steps took (the
steps alone: benchmarks/ddp.py times the same thing), and the first step's own
rate for a run of one step. The wall time is reported beside it.
"""


class StepRate:
    """Tokens per second over the training steps after the first."""

    def __init__(self):
        self.first = None          # (tokens, seconds) of the first step
        self.tokens, self.seconds = 0, 0.0   # of the steps after it

    def add(self, tokens, seconds):
        """One training step: the global tokens it trained on, and its seconds."""
        if self.first is None:
            self.first = (tokens, seconds)
        else:
            self.tokens += tokens
            self.seconds += seconds

    @property
    def tokens_per_sec(self):
        tokens, seconds = (self.tokens, self.seconds) if self.seconds else (self.first or (0, 0.0))
        return tokens / seconds if seconds else 0.0
