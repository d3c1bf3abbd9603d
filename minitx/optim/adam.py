"""Adam and AdamW, as torch.optim.Adam and torch.optim.AdamW; the update is the kernel's."""
import numpy as np

from .adamw_step import adamw_step
from .optimizer import Optimizer


class Adam(Optimizer):
    """Adam with bias correction; weight_decay is an L2 term added to the gradient,
    or, with decoupled_weight_decay=True, AdamW's decay of the parameter itself.
    The math is written out in minitx/optim/adamw_step.py.
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 amsgrad=False, *, decoupled_weight_decay=False):
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                                      amsgrad=amsgrad, decoupled_weight_decay=decoupled_weight_decay))

    def _check_hyperparameters(self, group):
        name = type(self).__name__
        for key in ("lr", "eps", "weight_decay"):
            if not group[key] >= 0:
                raise ValueError(f"{name}: {key}={group[key]} must be >= 0")
        if len(group["betas"]) != 2:
            raise ValueError(f"{name}: betas={group['betas']} must be a pair (beta1, beta2)")
        for i, beta in enumerate(group["betas"]):
            if not 0 <= beta < 1:
                raise ValueError(f"{name}: betas[{i}]={beta} must be in [0, 1)")

    def _state_names(self, group):
        names = {"step", "exp_avg", "exp_avg_sq"}
        return names | {"max_exp_avg_sq"} if group["amsgrad"] else names

    def step(self):
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state.get(p)
                if state is None:
                    state = self.state[p] = {"step": 0, "exp_avg": np.zeros(p.shape, p.dtype),
                                             "exp_avg_sq": np.zeros(p.shape, p.dtype)}
                    if group["amsgrad"]:
                        state["max_exp_avg_sq"] = np.zeros(p.shape, p.dtype)
                state["step"] += 1
                adamw_step(p.data, p.grad, state["exp_avg"], state["exp_avg_sq"],
                           state.get("max_exp_avg_sq"), group["lr"], beta1, beta2, group["eps"],
                           group["weight_decay"], state["step"],
                           decoupled=group["decoupled_weight_decay"])


class AdamW(Adam):
    """Adam with decoupled weight decay: p shrinks by lr * weight_decay * p each step."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                 amsgrad=False):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, decoupled_weight_decay=True)
