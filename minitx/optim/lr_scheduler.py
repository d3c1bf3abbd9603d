"""Learning-rate schedules, as pure functions of the step and as schedulers.

The functions give the lr of one step and read like the math:

    warmup_cosine_lr(step, lr, warmup_steps, max_steps, min_lr)
    warmup_linear_lr(step, lr, warmup_steps, max_steps, min_lr)
    warmup_constant_lr(step, lr, warmup_steps)

Warmup rises linearly as lr * (step + 1) / (warmup_steps + 1), so the very
first step already moves (nanoGPT's form; torch.optim.lr_scheduler.LinearLR
with start_factor 1 / (warmup_steps + 1) gives the same values). Decay then
runs from lr at warmup_steps to min_lr at max_steps and stays there.

The scheduler classes apply a function to every param group, as
torch.optim.lr_scheduler does: building one sets each group's lr to the
step-0 value; call scheduler.step() after each optimizer.step().
"""
import math


def _check(warmup_steps, max_steps=None):
    if warmup_steps < 0:
        raise ValueError(f"warmup_steps={warmup_steps} must be >= 0")
    if max_steps is not None and max_steps <= warmup_steps:
        raise ValueError(f"max_steps={max_steps} must be > warmup_steps={warmup_steps}")


def _warmup(step, lr, warmup_steps):
    return lr * (step + 1) / (warmup_steps + 1)


def warmup_cosine_lr(step, lr, warmup_steps, max_steps, min_lr=0.0):
    """Linear warmup to lr, then half a cosine down to min_lr at max_steps."""
    _check(warmup_steps, max_steps)
    if step < warmup_steps:
        return _warmup(step, lr, warmup_steps)
    if step >= max_steps:
        return min_lr
    progress = (step - warmup_steps) / (max_steps - warmup_steps)  # 0 -> 1
    return min_lr + (lr - min_lr) * 0.5 * (1 + math.cos(math.pi * progress))


def warmup_linear_lr(step, lr, warmup_steps, max_steps, min_lr=0.0):
    """Linear warmup to lr, then a straight line down to min_lr at max_steps."""
    _check(warmup_steps, max_steps)
    if step < warmup_steps:
        return _warmup(step, lr, warmup_steps)
    if step >= max_steps:
        return min_lr
    progress = (step - warmup_steps) / (max_steps - warmup_steps)
    return lr + (min_lr - lr) * progress


def warmup_constant_lr(step, lr, warmup_steps=0):
    """Linear warmup to lr, then lr."""
    _check(warmup_steps)
    return _warmup(step, lr, warmup_steps) if step < warmup_steps else lr


class LRScheduler:
    """Sets group['lr'] = lr_at(step, base lr of the group) on every step().

    last_epoch is torch's name for the count of scheduler steps taken.
    """

    def __init__(self, optimizer):
        self.optimizer = optimizer
        for group in optimizer.param_groups:
            group.setdefault("initial_lr", group["lr"])
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = -1
        self.step()

    def lr_at(self, step, base_lr):
        raise NotImplementedError

    def step(self):
        self.last_epoch += 1
        self._apply()

    def _apply(self):
        for group, base_lr in zip(self.optimizer.param_groups, self.base_lrs):
            group["lr"] = self.lr_at(self.last_epoch, base_lr)

    def get_last_lr(self):
        return [group["lr"] for group in self.optimizer.param_groups]

    def state_dict(self):
        """Every setting and the step count, JSON-able."""
        return {k: v for k, v in vars(self).items() if k != "optimizer"}

    def load_state_dict(self, state_dict):
        """Restore the step count (and settings), and set each group's lr for that step."""
        expected, got = set(self.state_dict()), set(state_dict)
        if got != expected:
            raise ValueError(f"{type(self).__name__}.load_state_dict: keys {sorted(got)}, "
                             f"expected {sorted(expected)}")
        if len(state_dict["base_lrs"]) != len(self.base_lrs):
            raise ValueError(f"{type(self).__name__}.load_state_dict: {len(state_dict['base_lrs'])} "
                             f"base lrs for {len(self.base_lrs)} param groups")
        self.__dict__.update(state_dict)
        self._apply()


class WarmupCosineLR(LRScheduler):
    """Linear warmup, then cosine decay to min_lr at max_steps (warmup_cosine_lr)."""

    def __init__(self, optimizer, warmup_steps, max_steps, min_lr=0.0):
        _check(warmup_steps, max_steps)
        self.warmup_steps, self.max_steps, self.min_lr = warmup_steps, max_steps, min_lr
        super().__init__(optimizer)

    def lr_at(self, step, base_lr):
        return warmup_cosine_lr(step, base_lr, self.warmup_steps, self.max_steps, self.min_lr)


class WarmupLinearLR(LRScheduler):
    """Linear warmup, then linear decay to min_lr at max_steps (warmup_linear_lr)."""

    def __init__(self, optimizer, warmup_steps, max_steps, min_lr=0.0):
        _check(warmup_steps, max_steps)
        self.warmup_steps, self.max_steps, self.min_lr = warmup_steps, max_steps, min_lr
        super().__init__(optimizer)

    def lr_at(self, step, base_lr):
        return warmup_linear_lr(step, base_lr, self.warmup_steps, self.max_steps, self.min_lr)


class WarmupConstantLR(LRScheduler):
    """Linear warmup, then the base lr (warmup_constant_lr); warmup_steps=0 is constant."""

    def __init__(self, optimizer, warmup_steps=0):
        _check(warmup_steps)
        self.warmup_steps = warmup_steps
        super().__init__(optimizer)

    def lr_at(self, step, base_lr):
        return warmup_constant_lr(step, base_lr, self.warmup_steps)
