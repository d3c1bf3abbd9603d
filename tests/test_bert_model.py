"""BERT without PyTorch: shapes, names, masking, gradients by finite differences,
and the Hugging Face folder layout (test_bert_parity.py compares with transformers)."""
import json
import math
import os

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

import minitx
from minitx.models import bert
from minitx.testing import gradcheck

V = 19


def config(**kw):
    base = dict(vocab_size=V, hidden_size=8, num_hidden_layers=2, num_attention_heads=2, intermediate_size=12,
                max_position_embeddings=12, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    return bert.BertConfig(**{**base, **kw})


def tiny(cls=bert.BertForPreTraining, **kw):
    minitx.manual_seed(0)
    return cls(config(**kw))


def test_config_validates():
    with pytest.raises(ValueError, match="divisible"):
        config(hidden_size=10, num_attention_heads=3)
    with pytest.raises(ValueError, match="hidden_act"):
        config(hidden_act="swish")
    with pytest.raises(ValueError, match="pad_token_id 19"):
        config(pad_token_id=19)
    with pytest.raises(ValueError, match="hidden_dropout_prob"):
        config(hidden_dropout_prob=1.5)
    with pytest.raises(ValueError, match="problem_type 'multi_label'"):
        config(problem_type="multi_label")


def test_sequence_classification_loss_follows_problem_type():
    """As transformers: BCE with logits for multi-label, cross-entropy for class ids,
    MSE for regression; None infers it from num_labels and the labels' dtype."""
    ids, mask = np.array([[2, 7, 9, 3], [2, 5, 3, 8]]), np.ones((2, 4), np.int64)
    y = np.array([[1.0, 0.0, 1.0], [0.0, 0.0, 1.0]])
    for problem_type in ("multi_label_classification", None):
        out = tiny(bert.BertForSequenceClassification, num_labels=3, problem_type=problem_type)(ids, mask, labels=y)
        x = out.logits.data.astype(np.float64)
        bce = np.mean(np.maximum(x, 0) - x * y + np.log1p(np.exp(-np.abs(x))))
        np.testing.assert_allclose(out.loss.item(), bce, rtol=1e-5)
    out = tiny(bert.BertForSequenceClassification, num_labels=3, problem_type="single_label_classification")(
        ids, mask, labels=[2, 0])
    x = out.logits.data.astype(np.float64)
    ce = np.mean(np.log(np.exp(x).sum(1)) - x[[0, 1], [2, 0]])
    np.testing.assert_allclose(out.loss.item(), ce, rtol=1e-5)
    out = tiny(bert.BertForSequenceClassification, num_labels=2, problem_type="regression")(
        ids, mask, labels=np.array([[0.5, 1.0], [0.0, -1.0]]))
    np.testing.assert_allclose(out.loss.item(), np.mean((out.logits.data - [[0.5, 1.0], [0.0, -1.0]]) ** 2),
                               rtol=1e-5)
    with pytest.raises(ValueError, match="multi-label labels of shape \\(2,\\)"):
        tiny(bert.BertForSequenceClassification, num_labels=3,
             problem_type="multi_label_classification")(ids, mask, labels=[1.0, 0.0])


def test_problem_type_round_trips_through_config_json(tmp_path):
    model = tiny(bert.BertForSequenceClassification, num_labels=3, problem_type="multi_label_classification")
    model.save_pretrained(tmp_path)
    assert json.loads((tmp_path / "config.json").read_text())["problem_type"] == "multi_label_classification"
    assert bert.BertForSequenceClassification.from_pretrained(tmp_path).config.problem_type == \
        "multi_label_classification"
    hf = json.loads((tmp_path / "config.json").read_text())
    del hf["problem_type"]  # a config.json from before the field: None
    (tmp_path / "config.json").write_text(json.dumps(hf))
    assert bert.BertForSequenceClassification.from_pretrained(tmp_path).config.problem_type is None


def test_names_are_hugging_face_and_the_decoder_is_tied():
    model = tiny()
    names = [n for n, _ in model.named_parameters()]
    for name in ("bert.embeddings.word_embeddings.weight", "bert.embeddings.token_type_embeddings.weight",
                 "bert.encoder.layer.0.attention.self.query.weight",
                 "bert.encoder.layer.1.attention.output.LayerNorm.bias",
                 "bert.encoder.layer.1.intermediate.dense.weight", "bert.encoder.layer.1.output.dense.bias",
                 "bert.pooler.dense.weight", "cls.predictions.transform.dense.weight",
                 "cls.predictions.transform.LayerNorm.weight", "cls.predictions.bias",
                 "cls.seq_relationship.weight"):
        assert name in names
    assert not any("decoder" in n for n in names)  # aliases, listed once under their first name
    assert model.cls.predictions.decoder.weight is model.bert.embeddings.word_embeddings.weight
    assert model.cls.predictions.decoder.bias is model.cls.predictions.bias
    untied = tiny(tie_word_embeddings=False)
    assert "cls.predictions.decoder.weight" in [n for n, _ in untied.named_parameters()]


def test_init_follows_bert():
    model = tiny(initializer_range=0.05)
    p = dict(model.named_parameters())
    assert np.all(p["bert.embeddings.word_embeddings.weight"].data[0] == 0)  # the padding row
    assert abs(p["bert.encoder.layer.0.intermediate.dense.weight"].data.std() - 0.05) < 0.015
    assert np.all(p["bert.encoder.layer.0.output.LayerNorm.weight"].data == 1)
    assert all(np.all(v.data == 0) for n, v in p.items() if n.endswith("bias"))


def test_shapes_and_initial_loss_near_uniform():
    model = tiny()
    ids = np.random.default_rng(0).integers(5, V, size=(3, 7))
    out = model(ids, labels=ids, next_sentence_label=[0, 1, 0])
    assert out.prediction_logits.shape == (3, 7, V) and out.seq_relationship_logits.shape == (3, 2)
    assert abs(out.loss.item() - math.log(V) - math.log(2)) < 0.3  # small init: near-uniform guesses


def test_padding_changes_nothing_for_real_tokens():
    """With the attention mask, appended padding (whatever its ids) leaves the
    hidden states of the real tokens as they were."""
    model = tiny(bert.BertModel).eval()
    ids = np.array([[2, 7, 9, 4, 3]])
    alone = model(ids).last_hidden_state.data
    padded = np.array([[2, 7, 9, 4, 3, 0, 11, 0]])
    out = model(padded, attention_mask=[[1, 1, 1, 1, 1, 0, 0, 0]]).last_hidden_state.data
    np.testing.assert_allclose(out[:, :5], alone, atol=1e-6)
    unmasked = model(padded).last_hidden_state.data
    assert np.abs(unmasked[:, :5] - alone).max() > 1e-3  # without the mask it would differ


def test_gradients_match_finite_differences():
    model = tiny(hidden_size=4, num_hidden_layers=1, intermediate_size=6).double()
    for n, p in model.named_parameters():  # non-zero biases and gains, so every path counts
        p.data += np.random.default_rng(len(n)).normal(0, 0.2, size=p.shape)
    ids = np.array([[2, 7, 9, 3, 0], [2, 5, 3, 8, 3]])
    mask = np.array([[1, 1, 1, 1, 0], [1, 1, 1, 1, 1]])
    types = np.array([[0, 0, 0, 0, 0], [0, 0, 0, 1, 1]])
    labels = np.array([[-100, 7, -100, -100, -100], [-100, 11, -100, 8, -100]])
    p = dict(model.named_parameters())
    checked = [p[n] for n in ("bert.embeddings.word_embeddings.weight", "bert.embeddings.token_type_embeddings.weight",
                              "bert.encoder.layer.0.attention.self.query.weight",
                              "bert.encoder.layer.0.attention.output.LayerNorm.weight",
                              "bert.pooler.dense.bias", "cls.predictions.bias")]

    def loss(*_):
        return model(ids, mask, types, labels=labels, next_sentence_label=[1, 0]).loss
    assert gradcheck(loss, *checked, atol=1e-6, rtol=1e-4)


def test_heads_shapes_and_losses():
    ids = np.array([[2, 7, 9, 3, 0], [2, 5, 3, 8, 3]])
    mask = np.array([[1, 1, 1, 1, 0], [1, 1, 1, 1, 1]])
    out = tiny(bert.BertForSequenceClassification, num_labels=3)(ids, mask, labels=[2, 0])
    assert out.logits.shape == (2, 3) and out.loss.item() > 0
    out = tiny(bert.BertForSequenceClassification, num_labels=1)(ids, mask, labels=[0.5, -1.0])
    np.testing.assert_allclose(out.loss.item(), np.mean((out.logits.data[:, 0] - [0.5, -1.0]) ** 2), rtol=1e-6)
    out = tiny(bert.BertForTokenClassification, num_labels=4)(ids, mask, labels=np.where(mask, 1, -100))
    assert out.logits.shape == (2, 5, 4) and out.loss.item() > 0
    qa = tiny(bert.BertForQuestionAnswering)
    out = qa(ids, mask, start_positions=[1, 9], end_positions=[2, 9])
    assert out.start_logits.shape == out.end_logits.shape == (2, 5)
    # position 9 is past the sequence: ignored, so the loss is row 0's alone
    s, e = out.start_logits.data[0], out.end_logits.data[0]
    lse = lambda z: np.log(np.exp(z - z.max()).sum()) + z.max()  # noqa: E731
    np.testing.assert_allclose(out.loss.item(), ((lse(s) - s[1]) + (lse(e) - e[2])) / 2, rtol=1e-5)


def test_mean_pool_ignores_padding():
    h = minitx.tensor(np.arange(2 * 3 * 2, dtype=np.float64).reshape(2, 3, 2))
    pooled = bert.mean_pool(h, [[1, 1, 0], [1, 1, 1]]).data
    np.testing.assert_allclose(pooled, [[1, 2], [8, 9]])


def test_errors_name_the_problem():
    model = tiny(bert.BertModel)
    with pytest.raises(ValueError, match="longer than max_position_embeddings 12"):
        model(np.zeros((1, 13), dtype=np.int64))
    with pytest.raises(ValueError, match=r"token_type_ids: shape \(1, 2\) does not match"):
        model([[1, 2, 3]], token_type_ids=[[0, 1]])
    with pytest.raises(ValueError, match="input_ids: expected integers"):
        model(np.zeros((1, 3)))


@pytest.mark.parametrize("name", ["BertModel", "BertForPreTraining", "BertForMaskedLM",
                                  "BertForSequenceClassification", "BertForTokenClassification",
                                  "BertForQuestionAnswering"])
def test_save_and_load_round_trip(tmp_path, name):
    model = tiny(getattr(bert, name), num_labels=2, id2label={0: "neg", 1: "pos"})
    model.save_pretrained(tmp_path)
    keys = set(load_file(tmp_path / "model.safetensors"))
    assert not any("decoder" in k for k in keys)  # tied: not written, as transformers 5
    assert all(k.startswith(("bert.", "cls.", "classifier.", "qa_outputs.")) != (name == "BertModel")
               for k in keys)
    hf = json.loads((tmp_path / "config.json").read_text())
    assert hf["architectures"] == [name] and hf["model_type"] == "bert" and hf["id2label"]["1"] == "pos"
    again = getattr(bert, name).from_pretrained(tmp_path)
    assert again.config == model.config
    for (n, a), (m, b) in zip(model.state_dict().items(), again.state_dict().items()):
        assert n == m and np.array_equal(a, b)


def test_loading_skips_buffers_and_drops_other_heads(tmp_path):
    tiny().save_pretrained(tmp_path)
    weights = load_file(tmp_path / "model.safetensors")
    weights["bert.embeddings.position_ids"] = np.arange(12)[None]
    weights["cls.predictions.decoder.weight"] = weights["bert.embeddings.word_embeddings.weight"]  # older files
    save_file(weights, tmp_path / "model.safetensors")
    with pytest.warns(UserWarning, match="classifier.weight, classifier.bias"):
        model = bert.BertForSequenceClassification.from_pretrained(tmp_path, num_labels=3)
    assert model.classifier.weight.shape == (3, 8) and model.config.id2label is None
    np.testing.assert_array_equal(model.bert.embeddings.word_embeddings.weight.data,
                                  weights["bert.embeddings.word_embeddings.weight"])


def test_loading_rejects_weights_that_do_not_fit(tmp_path):
    tiny(bert.BertModel).save_pretrained(tmp_path)
    weights = load_file(tmp_path / "model.safetensors")
    del weights["encoder.layer.1.output.dense.weight"]
    weights["encoder.layer.0.attention.self.extra"] = np.zeros(3, dtype=np.float32)
    save_file(weights, tmp_path / "model.safetensors")
    with pytest.raises(ValueError, match="no place for: bert.encoder.layer.0.attention.self.extra"):
        bert.BertForPreTraining.from_pretrained(tmp_path)
    del weights["encoder.layer.0.attention.self.extra"]
    save_file(weights, tmp_path / "model.safetensors")
    with pytest.raises(ValueError, match="lack encoder.layer.1.output.dense.weight"):
        bert.BertModel.from_pretrained(tmp_path)
    os.remove(tmp_path / "model.safetensors")
    (tmp_path / "pytorch_model.bin").write_bytes(b"pickle")
    with pytest.raises(ValueError, match="never loads"):
        bert.BertModel.from_pretrained(tmp_path)


def test_from_pretrained_rejects_other_architectures(tmp_path):
    tiny(bert.BertModel).save_pretrained(tmp_path)
    hf = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**hf, "model_type": "roberta"}))
    with pytest.raises(ValueError, match="model_type 'roberta' is not bert"):
        bert.BertModel.from_pretrained(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({**hf, "position_embedding_type": "relative_key"}))
    with pytest.raises(ValueError, match="relative_key"):
        bert.BertModel.from_pretrained(tmp_path)
