"""Behaviours checked against their definitions (hand-computed values), not against a
second run of the same code: each test here fails on a plausible bug that the rest of
the suite would let through (the first nine mutants of tests/mutants.py). No torch, no
transformers needed."""
import math

import numpy as np
import pytest

import minitx as mt
from minitx.models import hub
from minitx.models.gpt import GPT, GPTConfig
from minitx.models.gpt.sampling import next_token
from minitx.nn import functional as F
from minitx.testing import check_function
from minitx.testing import strategies as S
from minitx.training.metrics import pretraining_metrics
from minitx.training.trainer import TrainConfig, Trainer


# ---- sampling: the distribution next_token draws from ----------------------------
class GridRng:
    """Stands in for a Generator: random((B, 1)) returns B evenly spaced values in (0, 1),
    so the share of rows that pick id i is the probability next_token gives i (to 1/B)."""

    def random(self, shape):
        B = shape[0]
        return ((np.arange(B) + 0.5) / B).reshape(shape)


def sampled_probs(probs, B=20_000, **kwargs):
    logits = np.tile(np.log(np.asarray(probs, dtype=np.float64)), (B, 1))   # (B, V)
    ids = next_token(logits, rng=GridRng(), **kwargs)
    return np.bincount(ids, minlength=len(probs)) / B


def test_temperature_divides_the_logits():
    p = np.array([0.5, 0.3, 0.15, 0.05])
    expected = p ** (1 / 2) / np.sum(p ** (1 / 2))          # softmax(log p / 2)
    np.testing.assert_allclose(sampled_probs(p, temperature=2.0), expected, atol=1e-3)
    expected = p ** 2 / np.sum(p ** 2)                      # softmax(log p / 0.5)
    np.testing.assert_allclose(sampled_probs(p, temperature=0.5), expected, atol=1e-3)


def test_top_k_keeps_the_k_most_likely():
    p = np.array([0.15, 0.5, 0.05, 0.3])
    np.testing.assert_allclose(sampled_probs(p, top_k=2), [0, 0.625, 0, 0.375], atol=1e-3)


def test_top_p_keeps_the_token_that_crosses_p():
    p = np.array([0.15, 0.5, 0.05, 0.3])
    # sorted: 0.5, 0.3 (mass 0.8 crosses 0.7: kept), then 0.15 and 0.05 dropped
    np.testing.assert_allclose(sampled_probs(p, top_p=0.7), [0, 0.625, 0, 0.375], atol=1e-3)
    # 0.5 alone reaches p = 0.5 exactly: the next one is not needed
    np.testing.assert_allclose(sampled_probs(p, top_p=0.5), [0, 1, 0, 0], atol=1e-3)
    # 0.5 + 0.3 + 0.15 = 0.95 is the first mass above 0.9
    np.testing.assert_allclose(sampled_probs(p, top_p=0.9), [0.15 / 0.95, 0.5 / 0.95, 0, 0.3 / 0.95],
                               atol=1e-3)


def test_temperature_then_top_k_then_top_p():
    p = np.array([0.4, 0.3, 0.2, 0.1])
    q = p ** 2 / np.sum(p[:3] ** 2)                         # temperature 0.5, top-3
    q[3] = 0                                                # q = 0.552, 0.310, 0.138
    q[2] = 0                                                # top_p 0.8: 0.552 + 0.310 crosses
    q /= q.sum()
    np.testing.assert_allclose(sampled_probs(p, temperature=0.5, top_k=3, top_p=0.8), q, atol=1e-3)


# ---- generation: the sliding window ----------------------------------------------
def test_full_context_slides_to_its_last_half():
    """When the sequence fills block_size, the KV cache is rebuilt from the last
    block_size // 2 tokens (GPT.generate's docstring)."""
    mt.manual_seed(0)
    bs = 8
    model = GPT(GPTConfig(vocab_size=11, block_size=bs, n_layer=1, n_head=2, n_embd=8))
    seen = []
    forward = model.forward

    def recording(input_ids, *args, **kwargs):
        seen.append(np.array(input_ids))
        return forward(input_ids, *args, **kwargs)

    model.forward = recording
    prompt = np.arange(2 * bs, dtype=np.int64).reshape(2, bs) % 11      # (B, T) = (2, 8)
    ids = model.generate(prompt, max_new_tokens=bs // 2 + 2, do_sample=False)
    assert np.array_equal(seen[0], prompt[:, -(bs // 2):])              # the first window
    # the cache grows one token at a time until full again, then slides once more
    rebuilt = [i for i, x in enumerate(seen) if x.shape[1] > 1]
    assert len(rebuilt) == 2
    n = rebuilt[1]
    assert np.array_equal(seen[n], ids[:, bs + n - bs // 2:bs + n])


# ---- the Trainer: the lr it uses, and clipping --------------------------------------
class Weights(mt.nn.Module):
    def __init__(self):
        super().__init__()
        self.w = mt.nn.Parameter(np.zeros(3, dtype=np.float64))


class FixedBatches:
    """Every batch is the gradient vector g: the loss sum(w * g) has gradient g."""

    def __init__(self, g):
        self.g = np.asarray(g, dtype=np.float64)

    def get_batch(self, batch_size, split="train"):
        return self.g

    def eval_batches(self, batch_size, n_batches, split="val"):
        return [self.g]

    def state_dict(self):
        return {}

    def load_state_dict(self, state):
        pass


def linear_loss(model, g):
    return (model.w * mt.tensor(g)).sum()


def trainer(tmp_path, g, **config):
    cfg = TrainConfig(**{"max_iters": 10, "warmup_iters": 4, "lr": 0.1, "min_lr": 0.01,
                         "batch_size": 1, **config})
    return Trainer(Weights(), FixedBatches(g), cfg, str(tmp_path / "run"), {"model_type": "none"},
                   compute_loss=linear_loss, progress=False)


def test_trainer_step_n_uses_the_lr_of_step_n(tmp_path):
    t = trainer(tmp_path, [1.0, -2.0, 0.0], grad_clip=0.0)
    # warmup lr * (step + 1) / (warmup + 1) for steps 0..3, then the cosine from lr at
    # step 4 to min_lr at step 10: 0.01 + 0.09 * (1 + cos(pi * (step - 4) / 6)) / 2
    expected = [0.02, 0.04, 0.06, 0.08, 0.1, 0.01 + 0.045 * (1 + math.cos(math.pi / 6))]
    w0 = t.model.w.data.copy()
    for step, lr in enumerate(expected):
        _, _, used = t.train_step()
        assert used == pytest.approx(lr, rel=1e-12), f"step {step}"
        assert all(group["lr"] == pytest.approx(lr, rel=1e-12) for group in t.optimizer.param_groups)
        if step == 0:   # AdamW's first step moves each weight by lr * g / |g|
            np.testing.assert_allclose(t.model.w.data - w0, [-0.02, 0.02, 0.0], rtol=1e-6)


def test_trainer_clips_the_gradient_norm(tmp_path):
    t = trainer(tmp_path, [30.0, 40.0, 0.0], grad_clip=1.0)
    _, norm, _ = t.train_step()
    assert norm == pytest.approx(50.0)                       # the norm before clipping
    # clipped to norm 1: g * 1 / (50 + 1e-6), clip_grad_norm_'s definition
    np.testing.assert_allclose(t.model.w.grad, np.array([30.0, 40.0, 0.0]) / (50 + 1e-6), rtol=1e-12)
    t = trainer(tmp_path, [30.0, 40.0, 0.0], grad_clip=0.0)  # 0 turns clipping off
    t.train_step()
    np.testing.assert_array_equal(t.model.w.grad, [30.0, 40.0, 0.0])


# ---- BERT pretraining metrics on a hand-made batch ------------------------------------
class _Out:
    def __init__(self, h, pooled):
        self.last_hidden_state, self.pooler_output = h, pooled


class _Heads:
    predictions = staticmethod(lambda h: h)          # the hidden state is the MLM logits
    seq_relationship = staticmethod(lambda pooled: pooled)


class HandMadeBert:
    """model.bert returns the hidden state given; the heads pass it through."""

    def __init__(self, h, pooled):
        self.out, self.cls = _Out(mt.tensor(h), mt.tensor(pooled)), _Heads()

    def bert(self, input_ids, attention_mask, token_type_ids):
        return self.out


def test_mlm_and_nsp_accuracy_count_the_hits():
    V = 4
    h = np.zeros((2, 3, V), dtype=np.float32)                  # (B, T, V): argmax per position
    h[0, 0, 1] = h[0, 1, 2] = h[0, 2, 3] = h[1, 0, 0] = h[1, 1, 1] = h[1, 2, 2] = 1
    labels = np.array([[1, -100, 0], [-100, 1, -100]])        # masked at 3 positions: 1, 0, 1
    # predictions there: 1 (hit), 3 (miss), 1 (hit) -> 2 of 3
    pooled = np.array([[2.0, 1.0], [2.0, 1.0]], dtype=np.float32)   # NSP predicts 0, 0
    batch = {"input_ids": np.zeros((2, 3), np.int64), "attention_mask": np.ones((2, 3), np.int64),
             "token_type_ids": np.zeros((2, 3), np.int64), "labels": labels,
             "next_sentence_label": np.array([0, 1])}          # 1 of 2
    result = pretraining_metrics(HandMadeBert(h, pooled), [batch, batch])
    assert result["mlm_accuracy"] == pytest.approx(2 / 3)
    # cross-entropy log(sum exp) - logit[label] at the masked rows [0,1,0,0] (1), [0,0,0,1] (0),
    # [0,1,0,0] (1): log(3 + e) - 1, log(3 + e), log(3 + e) - 1; perplexity exp of their mean
    assert result["mlm_perplexity"] == pytest.approx((3 + math.e) * math.exp(-2 / 3), rel=1e-6)
    assert result["nsp_accuracy"] == pytest.approx(1 / 2)


# ---- GELU with the tanh approximation, from its formula -----------------------------
def gelu_tanh(x):
    return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_gelu_tanh_is_its_formula(backend):
    x = np.array([-3.0, -1.5, -0.5, 0.0, 0.7, 2.0, 3.0])
    with mt.use_backend(backend):
        np.testing.assert_allclose(F.gelu(mt.tensor(x), approximate="tanh").data, gelu_tanh(x),
                                   rtol=1e-12, atol=1e-15)
        check_function(lambda t: F.gelu(t, approximate="tanh"), S.arrays((2, 3)),
                       reference=gelu_tanh, checks=("reference",), max_examples=5)


# ---- GPT-2's Hugging Face layout -----------------------------------------------------
def test_from_pretrained_reads_gpt2_conv1d_weights_as_in_out(tmp_path):
    """GPT-2's blocks are Conv1D layers: every 2-D weight under transformer.h is stored
    (in, out), the transpose of a Linear's (out, in). A folder written here from that
    rule, not by save_pretrained, must load into the same model."""
    mt.manual_seed(0)
    config = GPTConfig(vocab_size=13, block_size=8, n_layer=2, n_head=2, n_embd=8)
    model = GPT(config)
    weights = {name: (value.T if name.startswith("transformer.h.") and value.ndim == 2 else value)
               for name, value in model.state_dict().items() if name != "lm_head.weight"}
    assert sum(name.startswith("transformer.h.") and v.ndim == 2 for name, v in weights.items()) == 8
    hub.write_folder(str(tmp_path / "gpt2"), {
        "model_type": "gpt2", "vocab_size": 13, "n_positions": 8, "n_embd": 8, "n_layer": 2,
        "n_head": 2, "activation_function": "gelu_new", "layer_norm_epsilon": 1e-5}, weights)
    loaded = GPT.from_pretrained(str(tmp_path / "gpt2"))
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(loaded.state_dict()[name], value, err_msg=name)
    ids = np.array([[1, 5, 7, 2]])
    np.testing.assert_array_equal(loaded(ids).logits.data, model(ids).logits.data)


# ---- the parallel drivers, whatever the number of threads ------------------------------
@pytest.mark.parametrize("keep", [False, True])
def test_cross_entropy_parallel_driver_on_any_thread_count(monkeypatch, keep):
    """pair.pays is False on one thread, so a 1-core machine would never run the block
    functions: forced here (on one core they run alone), they must equal the twin on
    every row."""
    from minitx.kernels import cross_entropy as ce
    from minitx.kernels.numba import cross_entropy as ce_numba, pair
    monkeypatch.setattr(pair, "pays", lambda n, cost=1: True)
    rng = np.random.default_rng(0)
    N, V = 37, 5                                            # rows not a multiple of the blocks
    x = rng.standard_normal((N, V))
    t = rng.integers(0, V, N)
    valid = np.ones(N, dtype=bool)
    got = ce_numba.cross_entropy_forward(x, t, valid, 0.0, keep_exp=keep)
    np.testing.assert_allclose(got[0], ce.cross_entropy_forward_numpy(x, t, valid, 0.0)[0],
                               rtol=1e-12)
    # the loss by its definition: logsumexp(x_i) - x_i[t_i]
    m = x.max(axis=1)
    np.testing.assert_allclose(got[0], m + np.log(np.exp(x - m[:, None]).sum(axis=1)) - x[np.arange(N), t],
                               rtol=1e-12)
    g = rng.standard_normal(N)
    dx = ce_numba.cross_entropy_backward(g, x, t, valid, got[1], got[2], 0.0, e=got[3])
    p = np.exp(x - x.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    p[np.arange(N), t] -= 1
    np.testing.assert_allclose(dx, g[:, None] * p, rtol=1e-10, atol=1e-14)
