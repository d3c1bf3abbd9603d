"""Token ids split into train and validation, served as random windows.

Each example is a window of block_size + 1 consecutive ids: x is its first T
ids, y the T ids one position later, so y[t] is the token that follows x[:t+1].
"""
import numpy as np

SPLITS = ("train", "val")


class TokenDataset:
    """A stream of token ids; the last `val_fraction` of it is the validation split.

    Training batches are drawn from a generator seeded by `seed`, whose state
    state_dict() saves, so a resumed run draws the same batches as an unbroken
    one. Evaluation batches are fixed: the same windows every time they are asked for.
    """

    def __init__(self, ids, block_size, val_fraction=0.1, seed=0):
        ids = np.asarray(ids)
        if ids.ndim != 1 or not np.issubdtype(ids.dtype, np.integer):
            raise ValueError(f"TokenDataset: ids must be a 1-D integer array, got {ids.dtype} {ids.shape}")
        if block_size < 1:
            raise ValueError(f"TokenDataset: block_size must be positive, got {block_size}")
        if not 0 <= val_fraction < 1:
            raise ValueError(f"TokenDataset: val_fraction must be in [0, 1), got {val_fraction}")
        n_val = int(len(ids) * val_fraction)
        self.block_size = int(block_size)
        self.seed = int(seed)
        self.splits = {"train": ids[:len(ids) - n_val], "val": ids[len(ids) - n_val:]}
        for split, part in self.splits.items():
            if (split == "train" or val_fraction > 0) and len(part) < block_size + 1:
                raise ValueError(
                    f"TokenDataset: the {split} split has {len(part)} tokens, fewer than "
                    f"block_size + 1 = {block_size + 1}; use a longer text or a smaller block size")
        self.rng = np.random.default_rng(self.seed)
        self.batches_drawn = 0

    def __len__(self):
        return sum(len(part) for part in self.splits.values())

    def _windows(self, split, batch_size, rng):
        if split not in SPLITS:
            raise ValueError(f"TokenDataset: split must be one of {SPLITS}, got {split!r}")
        ids, T = self.splits[split], self.block_size
        if len(ids) < T + 1:
            raise ValueError(f"TokenDataset: the {split} split is empty (val_fraction 0)")
        starts = rng.integers(0, len(ids) - T, size=batch_size)  # (B,)
        window = ids[starts[:, None] + np.arange(T + 1)].astype(np.int64)  # (B, T + 1)
        return window[:, :-1], window[:, 1:]  # x (B, T), y (B, T)

    def get_batch(self, batch_size, split="train"):
        """(x, y), each int64 of shape (batch_size, block_size), from random windows."""
        self.batches_drawn += 1
        return self._windows(split, batch_size, self.rng)

    def eval_batches(self, batch_size, n_batches, split="val"):
        """The same `n_batches` batches (x, y) on every call: evaluations stay comparable."""
        rng = np.random.default_rng([self.seed, SPLITS.index(split) + 1])
        return [self._windows(split, batch_size, rng) for _ in range(n_batches)]

    def state_dict(self):
        """The training generator's state and how many batches it has drawn (JSON-friendly)."""
        return {"rng": self.rng.bit_generator.state, "batches_drawn": self.batches_drawn}

    def load_state_dict(self, state):
        self.rng.bit_generator.state = state["rng"]
        self.batches_drawn = int(state["batches_drawn"])


class TokenFileDataset(TokenDataset):
    """TokenDataset over a prepared corpus (data.token_file.TokenFile), read by memory map:
    each batch reads only its windows, and the split is the file's."""

    def __init__(self, token_file, block_size, seed=0):
        self.file = token_file
        super().__init__(token_file.ids(), block_size, val_fraction=token_file.val_fraction, seed=seed)

    def _windows(self, split, batch_size, rng):
        # A fresh map for each batch: the pages a map has read stay in the process (its RSS) until it is
        # unmapped, so one map kept for a whole run would grow to the size of the corpus.
        self.splits = self.file.splits()
        return super()._windows(split, batch_size, rng)
