"""--shard-optimizer (ZeRO stage 1): each rank keeps the AdamW moments of its own parameters.

The parameters, in the optimizer's order, are cut into N contiguous runs of
about equal size; rank r owns run r. Every rank still has every weight and,
after the gradient allreduce, every averaged gradient, so clipping sees the
global gradient as before. Only the step differs: rank r runs AdamW on the
parameters it owns (its moments: 2 x 4 bytes x params / N instead of all), then
an allgather of the flat buffer of all weights, laid out run by run, hands
every rank the updated weights of the others. Each weight is updated by exactly
the arithmetic a single process would use, so the run is unchanged.

Checkpoints stay in the single-process format: state_dict() gathers the moments
on rank 0 (a collective: every rank calls it), and load_state_dict keeps the
owned parameters' entries, so a run can resume at any rank count, sharded or not.
"""
import numpy as np

from ..optim import AdamW


def partition(sizes, n):
    """Cut a list of sizes into n contiguous runs of about equal sum: the first index of each."""
    total, starts, acc = sum(sizes), [0], 0
    for i, size in enumerate(sizes):
        if len(starts) < n and acc + size / 2 >= total * len(starts) / n:
            starts.append(i)
        acc += size
    return starts + [len(sizes)] * (n + 1 - len(starts))


class ShardedAdamW:
    """AdamW over `groups` (param_groups), its state sharded over `world`'s ranks."""

    def __init__(self, world, groups, **hyper):
        self.world = world
        self.full = AdamW(groups, **hyper)    # the numbering and the hyperparameters; it never steps
        self.params = [p for g in self.full.param_groups for p in g["params"]]
        bounds = partition([p.data.size for p in self.params], world.size)
        self.owned = {id(p) for p in self.params[bounds[world.rank]:bounds[world.rank + 1]]}
        local_groups = [{**{k: v for k, v in g.items() if k != "params"},
                         "params": [p for p in g["params"] if id(p) in self.owned]} for g in self.full.param_groups]
        self.local = AdamW(local_groups, **hyper)
        sizes = [p.data.size for p in self.params]
        self.counts = [sum(sizes[bounds[r]:bounds[r + 1]]) for r in range(world.size)]
        self.displs = [sum(self.counts[:r]) for r in range(world.size)]
        self.flat = np.empty(sum(sizes), self.params[0].dtype)   # every weight, run by run
        self.offsets = np.cumsum([0] + sizes)

    @property
    def param_groups(self):
        return self.local.param_groups

    def zero_grad(self, set_to_none=True):
        self.full.zero_grad(set_to_none)

    def step(self):
        from mpi4py import MPI
        self.local.step()
        for i, p in enumerate(self.params):
            if id(p) in self.owned:
                self.flat[self.offsets[i]:self.offsets[i + 1]] = p.data.reshape(-1)
        request = self.world.comm.Iallgatherv(MPI.IN_PLACE, [self.flat, (self.counts, self.displs)])
        self.world.wait(request, "the weight allgather (--shard-optimizer)")
        for i, p in enumerate(self.params):
            if id(p) not in self.owned:
                p.data[...] = self.flat[self.offsets[i]:self.offsets[i + 1]].reshape(p.shape)

    def moment_bytes(self):
        """Bytes of AdamW state this rank holds."""
        return sum(v.nbytes for s in self.local.state.values() for v in s.values() if isinstance(v, np.ndarray))

    def state_dict(self):
        """The whole optimizer's state, in AdamW's own layout, on rank 0 (None elsewhere).
        Every rank must call it."""
        index = {id(p): i for i, p in enumerate(self.params)}
        mine = {index[id(p)]: s for p, s in self.local.state.items()}
        self.world.barrier("gathering the optimizer state (--shard-optimizer)")
        parts = self.world.comm.gather(mine, root=0)
        if not self.world.is_main:
            return None
        state = {}
        for part in parts:
            state.update(part)
        groups = [{**{k: v for k, v in local.items() if k != "params"},
                   "params": [index[id(p)] for p in full["params"]]}
                  for full, local in zip(self.full.param_groups, self.local.param_groups)]
        return {"state": {i: {k: v.copy() if isinstance(v, np.ndarray) else v for k, v in s.items()}
                          for i, s in sorted(state.items())}, "param_groups": groups}

    def load_state_dict(self, state_dict):
        """A whole optimizer's state (any rank count wrote it): check it all, keep what this rank owns."""
        self.full.load_state_dict(state_dict)      # checks every entry against the parameters
        by_param = self.full.state
        self.full.state = {}
        local = {"state": {}, "param_groups": []}
        n = 0
        for saved, group in zip(state_dict["param_groups"], self.local.param_groups):
            local["param_groups"].append({**{k: v for k, v in saved.items() if k != "params"},
                                          "params": list(range(n, n + len(group["params"])))})
            for p in group["params"]:
                if p in by_param:
                    local["state"][n] = by_param[p]
                n += 1
        self.local.load_state_dict(local)
