"""Recurrent layers as torch.nn's: RNN, LSTM, GRU (unidirectional).

Each layer k runs in two parts: the input projection of all T steps at once, one
GEMM (F.linear: x (T, B, I) -> xw (T, B, G*H), G = 1, 4, 3 gates), then the
recurrence over time, one fused Function with a hand-written backward through time
(kernels/rnn.py, lstm.py, gru.py; derived in docs/kernels/lstm.md). Parameter names,
shapes, gate order and init are torch's, so a torch state_dict loads as it is.
"""
import math

import numpy as np

from ..ops import stack
from ..tensor import Tensor
from . import functional as F
from .layers import _uniform
from .module import Module
from .parameter import Parameter


class RNNBase(Module):
    """The parameters and the layer loop the three share; a subclass names its gate
    count, its initial states and its recurrence."""

    GATES = 1
    STATES = ("h_0",)   # the initial states forward takes, in the order of hx

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 dtype=np.float32):
        super().__init__()
        name = type(self).__name__
        for what, n in (("input_size", input_size), ("hidden_size", hidden_size), ("num_layers", num_layers)):
            if not isinstance(n, (int, np.integer)) or n < 1:
                raise ValueError(f"{name}: {what} must be a positive integer, got {n!r}")
        if not 0.0 <= dropout <= 1.0:
            raise ValueError(f"{name}: dropout must be in [0, 1], got {dropout}")
        self.input_size, self.hidden_size, self.num_layers = int(input_size), int(hidden_size), int(num_layers)
        self.bias, self.batch_first, self.dropout = bool(bias), bool(batch_first), float(dropout)
        # torch's init: every weight and bias U(-1/sqrt(H), 1/sqrt(H)), drawn in the order
        # torch registers them (per layer: w_ih, w_hh, b_ih, b_hh).
        bound, GH = 1 / math.sqrt(hidden_size), self.GATES * self.hidden_size
        for k in range(self.num_layers):
            width = self.input_size if k == 0 else self.hidden_size
            setattr(self, f"weight_ih_l{k}", Parameter(_uniform((GH, width), bound, dtype)))
            setattr(self, f"weight_hh_l{k}", Parameter(_uniform((GH, self.hidden_size), bound, dtype)))
            if self.bias:
                setattr(self, f"bias_ih_l{k}", Parameter(_uniform((GH,), bound, dtype)))
                setattr(self, f"bias_hh_l{k}", Parameter(_uniform((GH,), bound, dtype)))

    def layer_parameters(self, k):
        """weight_ih, weight_hh, bias_ih, bias_hh of layer k (the biases None without bias)."""
        return tuple(getattr(self, f"{name}_l{k}", None) for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))

    def forward(self, input, hx=None):
        """input (T, B, I), (B, T, I) with batch_first, or (T, I) unbatched; hx the initial
        state(s), each (num_layers, B, H) ((num_layers, H) unbatched), zeros if None."""
        x = input if isinstance(input, Tensor) else Tensor(input)
        batched = x.ndim == 3
        self._check_input(x)
        x = x.unsqueeze(1) if not batched else x.transpose(0, 1) if self.batch_first else x   # (T, B, I)
        states = self._initial_states(hx, x.shape[1], batched, x.dtype)   # each (L, B, H)
        finals = []                                         # per layer: each state at t = T-1
        for k in range(self.num_layers):
            w_ih, w_hh, b_ih, b_hh = self.layer_parameters(k)
            xw = F.linear(x, w_ih, b_ih)                    # (T, B, G*H), all steps in one GEMM
            seqs = self._recurrence(xw, tuple(s[k] for s in states), w_hh, b_hh)   # each (T, B, H)
            finals.append([s[-1] for s in seqs])
            x = seqs[0]
            if self.dropout and self.training and k < self.num_layers - 1:
                x = F.dropout(x, self.dropout, True)
        out = x if not batched else x.transpose(0, 1) if self.batch_first else x
        last = tuple(stack([f[j] for f in finals]) for j in range(len(self.STATES)))   # each (L, B, H)
        if not batched:
            out, last = out.squeeze(1), tuple(s.squeeze(1) for s in last)
        return out, (last if len(last) > 1 else last[0])

    def _check_input(self, x):
        name, I = type(self).__name__, self.input_size
        want = f"(B, T, {I})" if self.batch_first else f"(T, B, {I})"
        if x.ndim not in (2, 3) or x.shape[-1] != I or 0 in x.shape[:-1]:
            raise ValueError(f"{name}: input of shape {x.shape}, want {want} or (T, {I}) unbatched, "
                             f"T and B >= 1 (input_size={I})")
        dtype = self.weight_ih_l0.dtype
        if x.dtype != dtype:
            raise TypeError(f"{name}: input of shape {x.shape} has dtype {x.dtype}; the layer's is {dtype}")

    def _initial_states(self, hx, B, batched, dtype):
        """The initial states as a tuple of (L, B, H) Tensors, checked against the input."""
        name, L, H = type(self).__name__, self.num_layers, self.hidden_size
        if hx is None:
            return tuple(Tensor(np.zeros((L, B, H), dtype)) for _ in self.STATES)
        hx = tuple(hx) if isinstance(hx, (tuple, list)) else (hx,)
        if len(hx) != len(self.STATES):
            raise ValueError(f"{name}: hx has {len(hx)} tensor(s); want the tuple ({', '.join(self.STATES)})"
                             if len(self.STATES) > 1 else f"{name}: hx has {len(hx)} tensors; want h_0 alone")
        want = (L, B, H) if batched else (L, H)
        states = []
        for what, s in zip(self.STATES, hx):
            s = s if isinstance(s, Tensor) else Tensor(s)
            if s.shape != want:
                raise ValueError(f"{name}: {what} of shape {s.shape}, want (num_layers, B, H) = {want}"
                                 if batched else f"{name}: {what} of shape {s.shape}, want "
                                 f"(num_layers, H) = {want} for an unbatched input")
            if s.dtype != dtype:
                raise TypeError(f"{name}: {what} of shape {s.shape} has dtype {s.dtype}; the input's is {dtype}")
            states.append(s if batched else s.unsqueeze(1))
        return tuple(states)

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if not self.bias:
            s += ", bias=False"
        if self.batch_first:
            s += ", batch_first=True"
        if self.dropout:
            s += f", dropout={self.dropout}"
        return s


class RNN(RNNBase):
    """h_t = act(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh), act tanh or relu, as torch.nn.RNN.
    forward(input, h_0=None) -> (output, h_n)."""

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True,
                 batch_first=False, dropout=0.0, dtype=np.float32):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNN: unknown nonlinearity {nonlinearity!r}; choose tanh or relu")
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout, dtype)
        self.nonlinearity = nonlinearity

    def _recurrence(self, xw, states, w_hh, b_hh):
        return (F.rnn_sequence(xw, states[0], w_hh, b_hh, self.nonlinearity),)

    def extra_repr(self):
        return super().extra_repr() + (f", nonlinearity={self.nonlinearity!r}" if self.nonlinearity != "tanh" else "")


class LSTM(RNNBase):
    """Long short-term memory, gates i, f, g, o, as torch.nn.LSTM.
    forward(input, (h_0, c_0)=None) -> (output, (h_n, c_n))."""

    GATES = 4
    STATES = ("h_0", "c_0")

    def _recurrence(self, xw, states, w_hh, b_hh):
        return F.lstm_sequence(xw, states[0], states[1], w_hh, b_hh)


class GRU(RNNBase):
    """Gated recurrent unit, parts r, z, n with n = tanh(W_in x + b_in + r * (W_hn h + b_hn)),
    as torch.nn.GRU. forward(input, h_0=None) -> (output, h_n)."""

    GATES = 3

    def _recurrence(self, xw, states, w_hh, b_hh):
        return (F.gru_sequence(xw, states[0], w_hh, b_hh),)
