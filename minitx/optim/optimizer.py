"""Optimizer: parameter groups, per-parameter state, zero_grad, state_dict."""
import numpy as np

from ..tensor import Tensor


class Optimizer:
    """Base of SGD, Adam and AdamW, laid out as torch.optim.Optimizer.

    param_groups: a list of dicts, each with 'params' (a list of Tensors) and
    every hyperparameter of `defaults`, filled in where the group leaves it out,
    so a group can, say, turn weight decay off for biases and LayerNorm weights.
    state: {param: {name: value}}, filled by step(). Values are NumPy arrays
    shaped like the parameter, except 'step', an int.
    """

    def __init__(self, params, defaults):
        if isinstance(params, Tensor):
            raise TypeError("params must be an iterable of Tensors or of dicts, not one Tensor")
        self._check_hyperparameters(defaults)
        self.defaults = defaults
        self.param_groups = []
        self.state = {}
        groups = list(params)
        if not groups:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def add_param_group(self, group):
        """Add a dict with 'params' and any hyperparameters that differ from the defaults."""
        params = group["params"]
        params = [params] if isinstance(params, Tensor) else list(params)
        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError(f"optimizer can only optimize Tensors, got {type(p).__name__}")
            if not p.is_leaf:
                raise ValueError("optimizer can't optimize a non-leaf Tensor")
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if len({id(p) for p in params}) != len(params) or seen & {id(p) for p in params}:
            raise ValueError("some parameters appear more than once in the parameter groups")
        group = {**self.defaults, **group, "params": params}
        self._check_hyperparameters(group)
        self.param_groups.append(group)

    def _check_hyperparameters(self, group):
        """Raise ValueError naming the first hyperparameter out of range."""

    def _state_names(self, group):
        """The state keys step() keeps for a parameter of `group`."""
        raise NotImplementedError

    def step(self):
        raise NotImplementedError

    def zero_grad(self, set_to_none=True):
        """Drop every gradient (or fill it with zeros in place)."""
        for group in self.param_groups:
            for p in group["params"]:
                if set_to_none:
                    p.grad = None
                elif p.grad is not None:
                    p.grad[...] = 0

    def state_dict(self):
        """A snapshot in torch's layout, parameters numbered in group order:

            {'state': {index: {'step': int, 'exp_avg': array, ...}},
             'param_groups': [{'lr': ..., 'params': [index, ...]}, ...]}

        Arrays are copies (for safetensors); everything else is JSON-able.
        """
        index, groups = {}, []
        for group in self.param_groups:
            for p in group["params"]:
                index[id(p)] = len(index)
            groups.append({**{k: v for k, v in group.items() if k != "params"},
                           "params": [index[id(p)] for p in group["params"]]})
        state = {index[id(p)]: {k: v.copy() if isinstance(v, np.ndarray) else v
                                for k, v in s.items()}
                 for p, s in self.state.items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        """Restore hyperparameters and state; checks everything before changing anything."""
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(f"load_state_dict: the saved state has {len(saved_groups)} param "
                             f"groups, this optimizer {len(self.param_groups)}")
        params, group_of = [], []
        for i, (saved, group) in enumerate(zip(saved_groups, self.param_groups)):
            if len(saved["params"]) != len(group["params"]):
                raise ValueError(f"load_state_dict: param group {i} has {len(saved['params'])} "
                                 f"parameters in the saved state, {len(group['params'])} here")
            missing = sorted(set(self.defaults) - set(saved))
            if missing:
                raise ValueError(f"load_state_dict: param group {i} of the saved state "
                                 f"lacks {missing}")
            merged = {**group, **saved}
            self._check_hyperparameters(merged)
            params += group["params"]
            group_of += [merged] * len(group["params"])

        state = {}
        for index, saved in state_dict["state"].items():
            index = int(index)  # a JSON round trip turns the keys into strings
            if not 0 <= index < len(params):
                raise ValueError(f"load_state_dict: state for parameter {index}, but there are "
                                 f"only {len(params)} parameters")
            p, expected = params[index], self._state_names(group_of[index])
            if set(saved) != expected:
                raise ValueError(f"load_state_dict: parameter {index} has state {sorted(saved)}, "
                                 f"expected {sorted(expected)}")
            entry = {}
            for name, value in saved.items():
                if name == "step":
                    entry[name] = int(value)
                    continue
                value = np.asarray(value)
                if value.shape != p.shape:
                    raise ValueError(f"load_state_dict: state {name!r} of parameter {index} has "
                                     f"shape {value.shape}, the parameter has shape {p.shape}")
                entry[name] = np.array(value, dtype=p.dtype, order="C")  # a copy we own
            state[p] = entry

        for saved, group in zip(saved_groups, self.param_groups):
            group.update({k: v for k, v in saved.items() if k != "params"})
        self.state = state
