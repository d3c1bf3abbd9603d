"""BERT against transformers on the same random weights.

transformers builds and saves each reference model in the test (safetensors),
with non-trivial biases and LayerNorm weights; the inputs have a padded row and
two token types. Tolerances: float64 agrees to ~1e-12 (we assert 1e-9 absolute
on logits and loss, gradients to 1e-8 of the largest gradient entry); float32 to
~1e-6 (asserted 2e-5 absolute, 2e-4 relative).
"""
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="parity tests need PyTorch (pip install .[parity])")
transformers = pytest.importorskip("transformers", reason="parity tests need transformers")

from minitx import manual_seed  # noqa: E402
from minitx.models import bert  # noqa: E402

V, T, PAD = 41, 10, 0
TOLERANCES = [(np.float64, 1e-9, 1e-8), (np.float32, 2e-5, 2e-4)]


def hf_config(**kw):
    return transformers.BertConfig(
        vocab_size=V, hidden_size=24, num_hidden_layers=2, num_attention_heads=3,
        intermediate_size=40, max_position_embeddings=16, hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0, pad_token_id=PAD, attn_implementation="eager", **kw)


def hf_model(cls, tmp_path, dtype=torch.float64, **kw):
    torch.manual_seed(0)
    model = cls(hf_config(**kw))
    with torch.no_grad():  # non-trivial biases and LayerNorm weights
        for name, p in model.named_parameters():
            if name.endswith("bias") or "LayerNorm" in name:
                p.add_(0.1 * torch.randn_like(p))
    model.save_pretrained(tmp_path)
    return model.to(dtype).eval()


def batch():
    """Two rows: the second padded after 7 tokens; token types A then B."""
    rng = np.random.default_rng(0)
    ids = rng.integers(1, V, size=(2, T))
    mask = np.ones((2, T), dtype=np.int64)
    mask[1, 7:] = 0
    ids[1, 7:] = PAD
    types = np.zeros((2, T), dtype=np.int64)
    types[0, 5:], types[1, 4:7] = 1, 1
    labels = np.full((2, T), -100)
    labels[0, [1, 4, 8]] = rng.integers(1, V, size=3)
    labels[1, [2, 5]] = rng.integers(1, V, size=2)
    return ids, mask, types, labels


def as_torch(*arrays):
    return [torch.from_numpy(a) for a in arrays]


def assert_grads_match(ours, theirs, atol, rtol):
    """Every gradient, relative to the largest entry of all of them: the key biases'
    true gradient is 0 (softmax ignores a shift shared by a row), so their own
    scale is rounding noise."""
    grads = {n: p.grad.numpy() for n, p in theirs.named_parameters() if p.grad is not None}
    names = [n for n, _ in ours.named_parameters()]
    assert sorted(names) == sorted(n for n, _ in theirs.named_parameters())
    scale = max(np.abs(g).max() for g in grads.values())
    for name, p in ours.named_parameters():
        np.testing.assert_allclose(p.grad / scale, grads[name] / scale, atol=atol * 10, rtol=rtol,
                                   err_msg=name)
    key_bias = grads["bert.encoder.layer.0.attention.self.key.bias"]
    assert np.abs(key_bias).max() < 1e3 * atol * scale  # the reason for the shared scale


@pytest.mark.parametrize("dtype,atol,rtol", TOLERANCES)
def test_pretraining_logits_loss_and_every_gradient_match(tmp_path, dtype, atol, rtol):
    theirs = hf_model(transformers.BertForPreTraining, tmp_path,
                      torch.float64 if dtype == np.float64 else torch.float32)
    ours = bert.BertForPreTraining.from_pretrained(tmp_path, dtype=dtype)
    ids, mask, types, labels = batch()
    nsl = np.array([0, 1])
    ref = theirs(*as_torch(ids, mask, types), labels=torch.from_numpy(labels),
                 next_sentence_label=torch.from_numpy(nsl))
    ref.loss.backward()
    out = ours(ids, attention_mask=mask, token_type_ids=types, labels=labels, next_sentence_label=nsl)
    out.loss.backward()
    assert out.prediction_logits.dtype == dtype
    np.testing.assert_allclose(out.prediction_logits.data, ref.prediction_logits.detach().numpy(),
                               atol=atol, rtol=rtol)
    np.testing.assert_allclose(out.seq_relationship_logits.data,
                               ref.seq_relationship_logits.detach().numpy(), atol=atol, rtol=rtol)
    np.testing.assert_allclose(out.loss.item(), ref.loss.item(), atol=atol, rtol=rtol)
    assert_grads_match(ours, theirs, atol, rtol)


@pytest.mark.parametrize("name", ["BertForMaskedLM", "BertForSequenceClassification",
                                  "BertForTokenClassification", "BertForQuestionAnswering"])
def test_heads_logits_loss_and_gradients_match(tmp_path, name):
    theirs = hf_model(getattr(transformers, name), tmp_path, num_labels=2 if "Question" in name else 3)
    ours = getattr(bert, name).from_pretrained(tmp_path, dtype=np.float64)
    ids, mask, types, labels = batch()
    rng = np.random.default_rng(1)
    if name == "BertForMaskedLM":
        kw = dict(labels=labels)
    elif name == "BertForSequenceClassification":
        kw = dict(labels=np.array([2, 0]))
    elif name == "BertForTokenClassification":
        kw = dict(labels=np.where(mask == 1, rng.integers(0, 3, size=(2, T)), -100))
    else:  # the second end position is past the sequence: ignored, as transformers does
        kw = dict(start_positions=np.array([2, 5]), end_positions=np.array([4, T + 3]))
    ref = theirs(*as_torch(ids, mask, types), **{k: torch.from_numpy(v) for k, v in kw.items()})
    ref.loss.backward()
    out = ours(ids, mask, types, **kw)
    out.loss.backward()
    fields = ["start_logits", "end_logits"] if "Question" in name else ["logits"]
    for field in fields:
        np.testing.assert_allclose(getattr(out, field).data, getattr(ref, field).detach().numpy(),
                                   atol=1e-9, rtol=1e-8, err_msg=field)
    np.testing.assert_allclose(out.loss.item(), ref.loss.item(), atol=1e-9, rtol=1e-8)
    assert_grads_match(ours, theirs, 1e-9, 1e-8)


def test_bare_model_hidden_states_pooler_and_mean_pooling_match(tmp_path):
    theirs = hf_model(transformers.BertModel, tmp_path)
    ours = bert.BertModel.from_pretrained(tmp_path, dtype=np.float64)
    ids, mask, types, _ = batch()
    with torch.no_grad():
        ref = theirs(*as_torch(ids, mask, types))
        m = torch.from_numpy(mask).unsqueeze(-1).double()
        ref_pooled = (ref.last_hidden_state * m).sum(1) / m.sum(1)  # sentence-transformers' mean pooling
    out = ours(ids, mask, types)
    np.testing.assert_allclose(out.last_hidden_state.data, ref.last_hidden_state.numpy(), atol=1e-9)
    np.testing.assert_allclose(out.pooler_output.data, ref.pooler_output.numpy(), atol=1e-9)
    np.testing.assert_allclose(bert.mean_pool(out.last_hidden_state, mask).data, ref_pooled.numpy(), atol=1e-9)


def test_bare_checkpoint_into_pretraining_model_and_back(tmp_path):
    """A bare BertModel folder gives BertForPreTraining its encoder and fresh heads
    (with a warning); a full BertForPreTraining folder gives BertModel its encoder."""
    theirs = hf_model(transformers.BertModel, tmp_path / "bare")
    with pytest.warns(UserWarning, match="cls.predictions.transform.dense.weight"):
        ours = bert.BertForPreTraining.from_pretrained(tmp_path / "bare", dtype=np.float64)
    ids, mask, types, _ = batch()
    with torch.no_grad():
        ref = theirs(*as_torch(ids, mask, types)).last_hidden_state.numpy()
    np.testing.assert_allclose(ours.bert(ids, mask, types).last_hidden_state.data, ref, atol=1e-9)

    full = hf_model(transformers.BertForPreTraining, tmp_path / "full")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing is missing: no warning
        encoder = bert.BertModel.from_pretrained(tmp_path / "full", dtype=np.float64)
    with torch.no_grad():
        ref = full.bert(*as_torch(ids, mask, types)).last_hidden_state.numpy()
    np.testing.assert_allclose(encoder(ids, mask, types).last_hidden_state.data, ref, atol=1e-9)


@pytest.mark.parametrize("name", ["BertForPreTraining", "BertModel"])
def test_round_trip_into_transformers(tmp_path, name):
    manual_seed(1)
    config = bert.BertConfig(vocab_size=V, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                             intermediate_size=32, max_position_embeddings=16)
    ours = getattr(bert, name)(config).eval()
    for n, p in ours.named_parameters():  # move biases off zero so a lost bias would show
        if n.endswith("bias"):
            p.data[...] = np.random.default_rng(2).normal(0, 0.1, size=p.shape)
    ours.save_pretrained(tmp_path)
    theirs, info = getattr(transformers, name).from_pretrained(tmp_path, output_loading_info=True,
                                                                attn_implementation="eager")
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"]
    ids, mask, types, _ = batch()
    with torch.no_grad():
        ref = theirs.eval()(*as_torch(ids, mask, types))
    out = ours(ids, mask, types)
    fields = (["prediction_logits", "seq_relationship_logits"] if name == "BertForPreTraining"
              else ["last_hidden_state", "pooler_output"])
    for field in fields:
        np.testing.assert_allclose(getattr(out, field).data, getattr(ref, field).numpy(),
                                   atol=2e-5, rtol=1e-4, err_msg=field)
    # and back: the folder transformers writes loads here unchanged
    theirs.save_pretrained(tmp_path / "again")
    again = getattr(bert, name).from_pretrained(tmp_path / "again").eval()
    np.testing.assert_allclose(getattr(again(ids, mask, types), fields[0]).data,
                               getattr(out, fields[0]).data, atol=1e-6)


def test_embed_command_matches_transformers_on_a_hugging_face_folder(tmp_path):
    """A folder as transformers and its tokenizer write it (vocab.txt, no tokenizer.json):
    `minitx embed` gives transformers' mean-pooled embeddings."""
    from minitx.cli import main
    from minitx.tokenizers import WordPieceTokenizer
    texts = ["The Cat sat on the mat.", "a cat ate the rat", "cat"]
    WordPieceTokenizer.train(texts * 2, vocab_size=V, min_frequency=1).save_vocab_file(tmp_path / "vocab.txt")
    theirs = hf_model(transformers.BertModel, tmp_path, torch.float32)
    tok = transformers.BertTokenizer(vocab=str(tmp_path / "vocab.txt"))
    tok.save_pretrained(tmp_path)
    enc = tok(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        h = theirs(**enc).last_hidden_state
        m = enc["attention_mask"].unsqueeze(-1).float()
        ref = ((h * m).sum(1) / m.sum(1)).numpy()
    assert main(["embed", "--model", str(tmp_path), "--out", str(tmp_path / "e.npy"), *texts]) == 0
    np.testing.assert_allclose(np.load(tmp_path / "e.npy"), ref, atol=2e-5, rtol=1e-4)


def test_from_pretrained_is_in_eval_mode_with_c_ordered_weights(tmp_path):
    """As transformers: a loaded model does not drop out until .train()."""
    torch.manual_seed(0)
    cfg = hf_config().to_dict()
    cfg.update(hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1)
    transformers.BertForMaskedLM(transformers.BertConfig(**cfg)).save_pretrained(tmp_path)
    ours = bert.BertForMaskedLM.from_pretrained(tmp_path)
    assert not any(m.training for m in ours.modules())
    assert all(p.data.flags.c_contiguous for p in ours.parameters())
    ids = batch()[0]
    np.testing.assert_array_equal(ours(ids).logits.data, ours(ids).logits.data)
