"""output_attentions: the softmax probabilities per layer, after masking, on GPT and every
BERT class; equal to transformers' eager attention on the same weights; and with the
flag off the fused path runs as before."""
import numpy as np
import pytest

import minitx
from minitx.models import bert
from minitx.models.gpt import GPT, GPTConfig
from minitx.nn import functional as F

BERT_CLASSES = ["BertModel", "BertForMaskedLM", "BertForPreTraining", "BertForSequenceClassification",
                "BertForTokenClassification", "BertForQuestionAnswering"]
V, T, PAD = 41, 10, 0


def tiny_gpt(position="learned"):
    minitx.manual_seed(0)
    return GPT(GPTConfig(vocab_size=V, block_size=16, n_layer=2, n_head=3, n_embd=24, position=position)).eval()


def tiny_bert(name):
    minitx.manual_seed(0)
    cfg = bert.BertConfig(vocab_size=V, hidden_size=24, num_hidden_layers=2, num_attention_heads=3,
                          intermediate_size=40, max_position_embeddings=16, num_labels=2)
    return getattr(bert, name)(cfg).eval()


def padded_batch():
    """Two rows, the second padded after 7 tokens."""
    ids = np.random.default_rng(0).integers(1, V, size=(2, T))
    mask = np.ones((2, T), np.int64)
    mask[1, 7:] = 0
    ids[1, 7:] = PAD
    return ids, mask


@pytest.mark.parametrize("position", ["learned", "sinusoidal", "rotary"])
def test_gpt_attentions_are_causal_rows_that_sum_to_one(position):
    ids, _ = padded_batch()
    out = tiny_gpt(position)(ids, output_attentions=True)
    assert isinstance(out.attentions, tuple) and len(out.attentions) == 2
    for a in out.attentions:
        assert isinstance(a, minitx.Tensor) and a.shape == (2, 3, T, T) and a.dtype == np.float32
        assert not a.requires_grad
        np.testing.assert_allclose(a.data.sum(-1), 1, rtol=1e-5)
        assert np.all(np.triu(a.data, k=1) == 0)                  # no query sees a later key
        assert np.all(a.data[..., np.tril(np.ones((T, T), bool))] > 0)  # ... and every earlier one


def test_gpt_left_padded_keys_get_zero():
    ids, mask = padded_batch()
    ids, mask = ids[:, ::-1].copy(), mask[:, ::-1].copy()          # padding on the left, as generate takes it
    for a in tiny_gpt()(ids, attention_mask=mask, output_attentions=True).attentions:
        assert np.all(a.data[1, :, 3:, :3] == 0)                    # real queries never see the padding
        np.testing.assert_allclose(a.data[1, :, 3:].sum(-1), 1, rtol=1e-5)
        assert np.all(a.data[1, :, :3] == 0)                        # a padded query sees no key: zeros


@pytest.mark.parametrize("name", BERT_CLASSES)
def test_every_bert_class_returns_attentions_with_padded_keys_at_zero(name):
    ids, mask = padded_batch()
    model = tiny_bert(name)
    out = model(ids, attention_mask=mask, output_attentions=True)
    assert len(out.attentions) == 2
    for a in out.attentions:
        assert a.shape == (2, 3, T, T)
        np.testing.assert_allclose(a.data.sum(-1), 1, rtol=1e-5)
        assert np.all(a.data[1, :, :, 7:] == 0) and np.all(a.data[0] > 0)   # bidirectional, padding hidden
    assert model(ids, attention_mask=mask).attentions is None


@pytest.mark.parametrize("make, kwargs", [
    (tiny_gpt, {}),
    (lambda: tiny_bert("BertForPreTraining"), {}),
])
def test_flag_off_runs_the_fused_path_and_flag_on_leaves_the_outputs_bit_identical(make, kwargs):
    model = make()
    ids, mask = padded_batch()
    calls = []
    fused = {name: getattr(F, name) for name in ("qkv_attention", "scaled_dot_product_attention")}
    try:
        for name, fn in fused.items():
            setattr(F, name, lambda *a, fn=fn, **k: calls.append(1) or fn(*a, **k))
        off = model(ids, attention_mask=mask)
        assert len(calls) == 2                                       # one fused call per layer
        on = model(ids, attention_mask=mask, output_attentions=True)
        assert len(calls) == 4
    finally:
        for name, fn in fused.items():
            setattr(F, name, fn)
    field = "logits" if isinstance(model, GPT) else "prediction_logits"
    assert np.array_equal(getattr(on, field).data, getattr(off, field).data)


def test_attentions_with_a_kv_cache_cover_past_and_new_keys():
    model = tiny_gpt()
    ids, _ = padded_batch()
    full = model(ids, output_attentions=True).attentions
    caches = [minitx.nn.KVCache(16) for _ in model.transformer.h]
    model(ids[:, :6], kv_caches=caches)
    step = model(ids[:, 6:], kv_caches=caches, output_attentions=True).attentions
    for a, b in zip(full, step):
        assert b.shape == (2, 3, T - 6, T)                          # (B, NH, T_new, T_past + T_new)
        np.testing.assert_allclose(b.data, a.data[:, :, 6:], atol=1e-6)


# ---- against transformers (attn_implementation="eager") ------------------------------------

def test_gpt2_attentions_match_transformers(tmp_path):
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    cfg = transformers.GPT2Config(vocab_size=V, n_positions=16, n_embd=24, n_layer=2, n_head=3, resid_pdrop=0.0,
                                  embd_pdrop=0.0, attn_pdrop=0.0, attn_implementation="eager")
    theirs = transformers.GPT2LMHeadModel(cfg).double().eval()
    theirs.save_pretrained(tmp_path)
    ours = GPT.from_pretrained(tmp_path, dtype=np.float64)
    ids, mask = padded_batch()
    ids, mask = ids[:, ::-1].copy(), mask[:, ::-1].copy()          # left padding
    positions = np.where(mask, mask.cumsum(1) - 1, 0)
    with torch.no_grad():
        ref = theirs(torch.from_numpy(ids), attention_mask=torch.from_numpy(mask),
                     position_ids=torch.from_numpy(positions), output_attentions=True).attentions
        plain = theirs(torch.from_numpy(ids), output_attentions=True).attentions
    got = ours(ids, attention_mask=mask, output_attentions=True).attentions
    assert len(got) == len(ref) == 2
    real = mask.astype(bool)                                       # rows of padded queries differ by convention
    for a, r in zip(got, ref):
        np.testing.assert_allclose(a.data.transpose(0, 2, 1, 3)[real], r.numpy().transpose(0, 2, 1, 3)[real],
                                   atol=1e-12)
    for a, r in zip(ours(ids, output_attentions=True).attentions, plain):
        np.testing.assert_allclose(a.data, r.numpy(), atol=1e-12)


@pytest.mark.parametrize("name", BERT_CLASSES)
def test_bert_attentions_match_transformers_on_a_padded_batch(tmp_path, name):
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    cfg = transformers.BertConfig(vocab_size=V, hidden_size=24, num_hidden_layers=2, num_attention_heads=3,
                                  intermediate_size=40, max_position_embeddings=16, hidden_dropout_prob=0.0,
                                  attention_probs_dropout_prob=0.0, pad_token_id=PAD, num_labels=2,
                                  attn_implementation="eager")
    theirs = getattr(transformers, name)(cfg).double().eval()
    theirs.save_pretrained(tmp_path)
    ours = getattr(bert, name).from_pretrained(tmp_path, dtype=np.float64)
    ids, mask = padded_batch()
    with torch.no_grad():
        ref = theirs(torch.from_numpy(ids), attention_mask=torch.from_numpy(mask), output_attentions=True).attentions
    got = ours(ids, attention_mask=mask, output_attentions=True).attentions
    assert len(got) == len(ref) == 2
    for a, r in zip(got, ref):
        np.testing.assert_allclose(a.data, r.numpy(), atol=1e-12)
