"""Module forward hooks, and first_divergence: against another minitx model (no extra
dependency) and against transformers."""
import numpy as np
import pytest

import minitx as mt
from minitx.models.bert import BertConfig, BertModel
from minitx.models.gpt import GPT, GPTConfig
from minitx.testing import first_divergence

IDS = np.array([[1, 5, 7, 2], [3, 3, 4, 0]])


def tiny_gpt():
    mt.manual_seed(0)
    return GPT(GPTConfig(vocab_size=13, block_size=8, n_layer=3, n_head=2, n_embd=8))


def tiny_bert():
    mt.manual_seed(0)
    return BertModel(BertConfig(vocab_size=20, hidden_size=8, num_hidden_layers=2,
                                num_attention_heads=2, intermediate_size=16,
                                max_position_embeddings=16))


def copy_of(model):
    other = type(model)(model.config)
    other.load_state_dict(model.state_dict())
    return other


def test_forward_hooks_see_outputs_in_order_replace_them_and_come_off():
    model = mt.nn.Sequential(mt.nn.Linear(2, 3), mt.nn.Linear(3, 1))
    seen = []
    handles = [m.register_forward_hook(lambda m, args, out, n=n: seen.append((n, out.shape)))
               for n, m in model.named_modules()]
    x = mt.tensor(np.ones((4, 2), dtype=np.float32))
    model(x)
    assert seen == [("0", (4, 3)), ("1", (4, 1)), ("", (4, 1))]   # inner modules finish first
    for h in handles:
        h.remove()
    seen.clear()
    model(x)
    assert seen == []
    h = model[1].register_forward_hook(lambda m, args, out: out * 0)
    assert np.all(model(x).data == 0)
    h.remove()
    assert not np.all(model(x).data == 0)


def test_no_divergence_from_an_equal_model():
    gpt = tiny_gpt()
    assert first_divergence(gpt, copy_of(gpt), IDS) is None
    bert = tiny_bert()
    inputs = {"input_ids": IDS, "attention_mask": np.array([[1, 1, 1, 1], [1, 1, 0, 0]])}
    assert first_divergence(bert, copy_of(bert), inputs) is None


def test_a_changed_bias_is_named_by_its_module():
    gpt = tiny_gpt()
    reference = copy_of(gpt)
    gpt.transformer.h[1].mlp.c_fc.bias.data[0] += 1e-2
    found = first_divergence(gpt, reference, IDS)
    assert found.name == "transformer.h.1.mlp.c_fc"
    assert found.max_abs == pytest.approx(1e-2, rel=1e-3)
    assert found.shape == found.reference_shape == (2, 4, 32)
    assert found.max_ulp > 1e3 and found.max_rel > 0
    bert = tiny_bert()
    reference = copy_of(bert)
    bert.encoder.layer[1].attention.self.value.bias.data[3] += 1e-2
    assert first_divergence(bert, reference, IDS).name == "encoder.layer.1.attention.self.value"


def test_tolerance():
    gpt = tiny_gpt()
    reference = copy_of(gpt)
    gpt.transformer.h[0].ln_2.bias.data[0] += 1e-7
    assert first_divergence(gpt, reference, IDS, atol=1e-5, rtol=1e-4) is None
    assert first_divergence(gpt, reference, IDS, atol=1e-9, rtol=0).name == "transformer.h.0.ln_2"


def test_against_transformers(tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    gpt = tiny_gpt()
    gpt.save_pretrained(tmp_path / "gpt2")
    assert first_divergence(gpt, str(tmp_path / "gpt2"), IDS) is None
    gpt.transformer.h[1].mlp.c_proj.bias.data[0] += 1e-2
    assert first_divergence(gpt, str(tmp_path / "gpt2"), IDS).name == "transformer.h.1.mlp.c_proj"
    bert = tiny_bert()
    bert.save_pretrained(tmp_path / "bert")
    inputs = {"input_ids": IDS, "attention_mask": np.array([[1, 1, 1, 1], [1, 1, 0, 0]])}
    assert first_divergence(bert, str(tmp_path / "bert"), inputs) is None
    bert.encoder.layer[0].intermediate.dense.bias.data[0] += 1e-2
    assert first_divergence(bert, str(tmp_path / "bert"), inputs).name == \
        "encoder.layer.0.intermediate.dense"
