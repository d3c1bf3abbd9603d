"""Data-parallel training over MPI: one global batch split over N processes.

world.py    who this process is (rank, size), the collectives with a deadline,
            threads per rank; a one-process World outside mpirun
buckets.py  the gradient allreduce: flat buckets in a fixed order, started during
            backward as each bucket's gradients are complete
zero.py     --shard-optimizer: each rank keeps the AdamW moments of its slice only

The Trainer (minitx/training/trainer.py) uses these; rank 0 alone prints and
writes checkpoints and metrics. docs/distributed.md tells how it works and what
it costs.
"""
from .buckets import GradReducer
from .zero import ShardedAdamW
from .world import CollectiveTimeout, DistributedError, World, launched_rank, launched_size, world

__all__ = ["CollectiveTimeout", "DistributedError", "GradReducer", "ShardedAdamW", "World", "launched_rank",
           "launched_size", "world"]
