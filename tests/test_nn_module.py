import numpy as np
import pytest

import minitx
from minitx import nn


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(5, 3)
        self.body = nn.Sequential(nn.Linear(3, 4), nn.GELU(), nn.Linear(4, 3))
        self.head = nn.Linear(3, 5, bias=False)
        self.head.weight = self.emb.weight  # tied
        self.register_buffer("table", np.arange(3, dtype=np.float32))
        self.register_buffer("scratch", np.zeros(2, dtype=np.float32), persistent=False)

    def forward(self, ids):
        return self.head(self.body(self.emb(ids)) + minitx.Tensor(self.table))


def test_parameters_are_registered_once_even_when_tied():
    m = Tiny()
    names = [n for n, _ in m.named_parameters()]
    assert names == ["emb.weight", "body.0.weight", "body.0.bias", "body.2.weight", "body.2.bias"]
    assert m.num_parameters() == 15 + 12 + 4 + 12 + 3


def test_state_dict_lists_tied_names_and_persistent_buffers_only():
    sd = Tiny().state_dict()
    assert "head.weight" in sd and "emb.weight" in sd and "table" in sd
    assert "scratch" not in sd


def test_load_state_dict_round_trip_and_strict_errors_name_every_key():
    a, b = Tiny(), Tiny()
    b.load_state_dict(a.state_dict())
    for (n, p), (_, q) in zip(a.named_parameters(), b.named_parameters()):
        np.testing.assert_array_equal(p.data, q.data, err_msg=n)
    bad = dict(a.state_dict())
    del bad["body.0.bias"]
    bad["extra.weight"] = np.zeros(1)
    bad["body.2.weight"] = np.zeros((9, 9))
    with pytest.raises(RuntimeError) as e:
        b.load_state_dict(bad)
    msg = str(e.value)
    assert "body.0.bias" in msg and "extra.weight" in msg and "body.2.weight" in msg and "(9, 9)" in msg
    missing, unexpected = b.load_state_dict({k: v for k, v in bad.items() if k != "body.2.weight"}, strict=False)
    assert missing == ["body.0.bias", "body.2.weight"] and unexpected == ["extra.weight"]


def test_loaded_and_cast_parameters_are_c_ordered():
    """A transposed array (GPT-2's Conv1D weights, a Fortran-ordered file) loads as a C array:
    the kernels and the optimizer step read parameters in C order."""
    a, b = Tiny(), Tiny()
    state = {k: np.asfortranarray(v) for k, v in a.state_dict().items()}
    state["body.0.weight"] = np.ascontiguousarray(state["body.0.weight"].T).T  # (4, 3), Fortran order
    b.load_state_dict(state)
    assert all(p.data.flags.c_contiguous for p in b.parameters()) and b.table.flags.c_contiguous
    np.testing.assert_array_equal(b.body[0].weight.data, a.body[0].weight.data)
    b.body[0].weight.data = np.asfortranarray(b.body[0].weight.data)
    b.double()
    assert all(p.data.flags.c_contiguous for p in b.parameters())


def test_train_eval_zero_grad_and_dtype():
    m = Tiny()
    assert all(x.training for x in m.modules())
    m.eval()
    assert not any(x.training for x in m.modules())
    m.train()
    m(np.array([[0, 1, 4]])).sum().backward()
    assert all(p.grad is not None for p in m.parameters())
    m.zero_grad()
    assert all(p.grad is None for p in m.parameters())
    m.double()
    assert all(p.dtype == np.float64 for p in m.parameters()) and m.table.dtype == np.float64
    assert m.head.weight is m.emb.weight


def test_tied_weight_gets_both_gradients():
    m = Tiny().double()
    ids = np.array([[0, 1, 1, 3]])
    m(ids).sum().backward()
    g_total = m.emb.weight.grad.copy()
    # the same model with the tie broken: the two gradients must add up to the tied one
    m2 = Tiny().double()
    m2.load_state_dict(m.state_dict())
    m2.head.weight = nn.Parameter(m.emb.weight.data.copy())
    m2(ids).sum().backward()
    np.testing.assert_allclose(m2.emb.weight.grad + m2.head.weight.grad, g_total, rtol=1e-12)


def test_containers():
    ml = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)])
    assert len(ml) == 3 and len(list(ml.parameters())) == 6
    md = nn.ModuleDict({"a": nn.Linear(2, 2)})
    assert "a" in md and [n for n, _ in md.named_parameters()] == ["a.weight", "a.bias"]
    assert "Linear(in_features=2" in repr(md)


def test_module_requires_super_init():
    class Bad(nn.Module):
        def __init__(self):
            self.x = 1

    with pytest.raises(AttributeError, match="super"):
        Bad()
