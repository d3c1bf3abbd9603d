"""Module: a tree of layers that owns Parameters, buffers and sub-Modules."""
from collections import OrderedDict, namedtuple

import numpy as np

from ..tensor import Tensor
from .parameter import Parameter

IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


class Module:
    """Base class of every layer. Assigning a Parameter or a Module to an
    attribute registers it, so parameters() and state_dict() find it."""

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent", set())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_forward_hooks", OrderedDict())
        object.__setattr__(self, "training", True)

    # ---- registration -----------------------------------------------------
    def __setattr__(self, name, value):
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"{type(self).__name__}.__init__ must call super().__init__() first")
        for table in (self._parameters, self._buffers, self._modules):
            table.pop(name, None)
        if isinstance(value, Parameter):
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._modules[name] = value
        elif value is None and name in self.__dict__ and name in self._buffers:
            self._buffers[name] = None
        object.__setattr__(self, name, value)

    def register_buffer(self, name, array, persistent=True):
        """A non-learnable array (e.g. a table) saved in state_dict if persistent."""
        self._buffers[name] = array
        if not persistent:
            self._non_persistent.add(name)
        object.__setattr__(self, name, array)

    # ---- traversal --------------------------------------------------------
    def named_modules(self, prefix=""):
        seen, stack = set(), [(prefix, self)]
        while stack:
            name, module = stack.pop()
            if id(module) in seen:
                continue
            seen.add(id(module))
            yield name, module
            children = [(f"{name}.{n}" if name else n, m) for n, m in module._modules.items() if m is not None]
            stack.extend(reversed(children))

    def modules(self):
        return (m for _, m in self.named_modules())

    def named_children(self):
        return ((n, m) for n, m in self._modules.items() if m is not None)

    def children(self):
        return (m for _, m in self.named_children())

    def named_parameters(self, prefix="", recurse=True):
        """(name, Parameter) pairs; a Parameter shared by two layers appears once."""
        seen = set()
        modules = self.named_modules(prefix) if recurse else [(prefix, self)]
        for mod_name, module in modules:
            for name, p in module._parameters.items():
                if p is None or id(p) in seen:
                    continue
                seen.add(id(p))
                yield (f"{mod_name}.{name}" if mod_name else name), p

    def parameters(self, recurse=True):
        return (p for _, p in self.named_parameters(recurse=recurse))

    def named_buffers(self, prefix=""):
        for mod_name, module in self.named_modules(prefix):
            for name, b in module._buffers.items():
                if b is not None:
                    yield (f"{mod_name}.{name}" if mod_name else name), b

    # ---- modes and grads --------------------------------------------------
    def train(self, mode=True):
        for m in self.modules():
            object.__setattr__(m, "training", mode)
        return self

    def eval(self):
        return self.train(False)

    def zero_grad(self, set_to_none=True):
        for p in self.parameters():
            if set_to_none:
                p.grad = None
            elif p.grad is not None:
                p.grad[...] = 0

    def apply(self, fn):
        for m in list(self.modules())[::-1]:
            fn(m)
        return self

    def to(self, dtype):
        """Cast every floating parameter and buffer in place (e.g. np.float64)."""
        dtype = np.dtype(dtype)
        for p in self.parameters():
            if p.is_floating_point():
                p.data = p.data.astype(dtype, order="C")
                p.grad = None if p.grad is None else p.grad.astype(dtype, order="C")
        for m in self.modules():
            for name, b in m._buffers.items():
                if b is not None and np.issubdtype(b.dtype, np.floating):
                    m.register_buffer(name, b.astype(dtype, order="C"), persistent=name not in m._non_persistent)
        return self

    def float(self):
        return self.to(np.float32)

    def double(self):
        return self.to(np.float64)

    def num_parameters(self):
        return sum(p.data.size for p in self.parameters())

    # ---- state ------------------------------------------------------------
    def state_dict(self):
        """name -> NumPy array of every parameter and persistent buffer.

        Like PyTorch, a shared (tied) parameter is listed under each of its names.
        """
        state = OrderedDict()
        for mod_name, module in self.named_modules():
            pre = f"{mod_name}." if mod_name else ""
            for name, p in module._parameters.items():
                if p is not None:
                    state[pre + name] = p.data
            for name, b in module._buffers.items():
                if b is not None and name not in module._non_persistent:
                    state[pre + name] = b
        return state

    def load_state_dict(self, state_dict, strict=True):
        """Copy arrays into parameters and buffers by name.

        strict: every missing, unexpected and mis-shaped key is named in one
        error. Mis-shaped keys are errors even when not strict.
        """
        own = {}
        for mod_name, module in self.named_modules():
            pre = f"{mod_name}." if mod_name else ""
            for name, p in module._parameters.items():
                if p is not None:
                    own[pre + name] = (module, name, True)
            for name, b in module._buffers.items():
                if b is not None and name not in module._non_persistent:
                    own[pre + name] = (module, name, False)
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        mis_shaped = []
        for key, (module, name, is_param) in own.items():
            if key in state_dict:
                target = module._parameters[name].data if is_param else module._buffers[name]
                value = np.asarray(state_dict[key].data if isinstance(state_dict[key], Tensor) else state_dict[key])
                if value.shape != target.shape:
                    mis_shaped.append(f"{key}: checkpoint {value.shape}, model {target.shape}")
        problems = []
        if mis_shaped:
            problems.append("size mismatch for " + "; ".join(mis_shaped))
        if strict and missing:
            problems.append("missing keys: " + ", ".join(missing))
        if strict and unexpected:
            problems.append("unexpected keys: " + ", ".join(unexpected))
        if problems:
            raise RuntimeError(f"load_state_dict into {type(self).__name__}: " + ". ".join(problems))
        for key, (module, name, is_param) in own.items():
            if key not in state_dict:
                continue
            value = state_dict[key]
            value = value.data if isinstance(value, Tensor) else np.asarray(value)
            if is_param:
                p = module._parameters[name]
                # C order whatever the source's layout (a transposed Conv1D weight is Fortran
                # order): the kernels and the optimizer step read parameters as C arrays
                p.data = np.array(value, dtype=p.dtype, order="C", copy=True)
            else:
                old = module._buffers[name]
                module.register_buffer(name, np.array(value, dtype=old.dtype, order="C", copy=True),
                                       persistent=True)
        return IncompatibleKeys(missing, unexpected)

    # ---- calling ----------------------------------------------------------
    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} has no forward")

    def __call__(self, *args, **kwargs):
        out = self.forward(*args, **kwargs)
        for hook in tuple(self._forward_hooks.values()):
            result = hook(self, args, out)
            if result is not None:
                out = result
        return out

    def register_forward_hook(self, hook):
        """Call hook(module, args, output) after each forward, as torch does; a hook that
        returns something other than None replaces the output. Returns a handle whose
        remove() takes the hook off again."""
        key = object()
        self._forward_hooks[key] = hook
        return _HookHandle(self._forward_hooks, key)

    def extra_repr(self):
        return ""

    def __repr__(self):
        lines = [f"({name}): " + repr(m).replace("\n", "\n  ") for name, m in self.named_children()]
        head = f"{type(self).__name__}({self.extra_repr()}"
        return head + ("\n  " + "\n  ".join(lines) + "\n)" if lines else ")")


class _HookHandle:
    def __init__(self, hooks, key):
        self._hooks, self._key = hooks, key

    def remove(self):
        self._hooks.pop(self._key, None)
