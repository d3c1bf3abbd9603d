import json
import math

import numpy as np
import pytest

import minitx
from minitx.models.gpt import GPT, GPTConfig


def tiny(**overrides):
    minitx.manual_seed(0)
    cfg = dict(vocab_size=23, block_size=16, n_layer=2, n_head=2, n_embd=8)
    cfg.update(overrides)
    return GPT(GPTConfig(**cfg))


def test_config_validates():
    with pytest.raises(ValueError, match="divisible"):
        GPTConfig(n_embd=10, n_head=3)
    with pytest.raises(ValueError, match="vocab_size"):
        GPTConfig(vocab_size=0)
    with pytest.raises(ValueError, match="activation"):
        GPTConfig(activation="swish")


def test_forward_shapes_and_initial_loss_near_uniform():
    model = tiny()
    ids = np.random.default_rng(0).integers(0, 23, size=(3, 10))
    out = model(ids, targets=ids)
    assert out.logits.shape == (3, 10, 23)
    # GPT-2 init gives near-uniform predictions: loss close to ln V
    assert abs(out.loss.item() - math.log(23)) < 0.2


def test_parameter_names_follow_gpt2_and_head_is_tied():
    model = tiny()
    names = [n for n, _ in model.named_parameters()]
    assert names[:2] == ["transformer.wte.weight", "transformer.wpe.weight"]
    assert "transformer.h.0.attn.c_attn.weight" in names
    assert "transformer.h.1.mlp.c_fc.bias" in names and "transformer.ln_f.weight" in names
    assert "lm_head.weight" not in names  # tied: listed once, under wte
    assert model.lm_head.weight is model.transformer.wte.weight


def test_residual_projections_are_scaled_at_init():
    model = tiny(n_layer=8, n_embd=64, n_head=4)
    std = model.transformer.h[0].attn.c_proj.weight.data.std()
    assert abs(std - 0.02 / math.sqrt(16)) < 0.002
    assert abs(model.transformer.h[0].attn.c_attn.weight.data.std() - 0.02) < 0.002


def test_ignored_targets_do_not_count():
    model = tiny()
    ids = np.random.default_rng(1).integers(0, 23, size=(2, 6))
    full = model(ids, targets=ids).loss.item()
    tgt = ids.copy()
    tgt[:, 3:] = -100
    part = model(ids, targets=tgt).loss.item()
    logits = model(ids).logits.data.astype(np.float64)
    logp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    expect = -np.mean(np.take_along_axis(logp[:, :3], ids[:, :3, None], -1))
    assert part == pytest.approx(expect, rel=1e-5) and part != pytest.approx(full)


def test_too_long_sequence_raises():
    with pytest.raises(ValueError, match="block_size"):
        tiny()(np.zeros((1, 17), dtype=np.int64))


def test_out_of_range_ids_raise_index_error():
    with pytest.raises(IndexError, match="23"):
        tiny()(np.array([[1, 23]]))


def test_gradient_matches_finite_differences_float64():
    model = tiny().double()
    ids = np.random.default_rng(2).integers(0, 23, size=(2, 5))
    for p in (model.transformer.ln_f.weight, model.transformer.h[1].attn.c_attn.bias):
        minitx.testing.gradcheck(lambda w: model(ids, targets=ids).loss, p, atol=1e-7, rtol=1e-5)


def test_greedy_with_cache_equals_without():
    model = tiny()
    prompt = np.array([[1, 2, 3], [4, 5, 6]])
    a = model.generate(prompt, 10, do_sample=False)
    b = model.generate(prompt, 10, do_sample=False, use_cache=False)
    assert a.shape == (2, 13)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a[:, :3], prompt)


def test_sampling_reproducible_and_top_k_one_is_greedy():
    model = tiny()
    prompt = np.array([[1, 2]])
    s1 = model.generate(prompt, 8, temperature=0.9, top_p=0.9, seed=7)
    s2 = model.generate(prompt, 8, temperature=0.9, top_p=0.9, seed=7)
    np.testing.assert_array_equal(s1, s2)
    np.testing.assert_array_equal(model.generate(prompt, 8, top_k=1, seed=3),
                                  model.generate(prompt, 8, do_sample=False))


def test_generation_slides_past_block_size():
    model = tiny()
    out = model.generate(np.array([[1, 2, 3]]), 40, do_sample=False)
    assert out.shape == (1, 43) and out.max() < 23


def test_eos_stops_and_pads():
    model = tiny()
    first = model.generate(np.array([[1, 2]]), 1, do_sample=False)[0, -1]
    out = model.generate(np.array([[1, 2]]), 10, do_sample=False, eos_token_id=int(first))
    assert out.shape == (1, 3) and out[0, -1] == first


def left_pad(rows):
    """A batch of prompts of different lengths: ids and attention_mask (B, W), padded on the left."""
    W = max(map(len, rows))
    ids, mask = np.zeros((len(rows), W), np.int64), np.zeros((len(rows), W), np.int64)
    for i, row in enumerate(rows):
        ids[i, W - len(row):], mask[i, W - len(row):] = row, 1
    return ids, mask


def varied(**overrides):
    """tiny() with weights scaled up, so greedy continuations vary rather than repeat."""
    model = tiny(**overrides).eval()
    for p in model.parameters():
        p.data *= 8
    return model


ROWS = [[3, 1, 4, 1, 5, 9], [2, 7], [1, 8, 2]]


def test_padded_rows_give_the_logits_of_each_row_alone_and_no_nan():
    model = varied()
    ids, mask = left_pad(ROWS)
    logits = model(ids, attention_mask=mask).logits.data      # (B, W, V)
    assert np.isfinite(logits).all()  # padded positions, whose every key is hidden, too
    for i, row in enumerate(ROWS):
        alone = model(np.array([row])).logits.data[0]
        np.testing.assert_allclose(logits[i, -len(row):], alone, atol=1e-5, rtol=1e-5)


def test_padded_batch_generates_what_each_prompt_does_alone():
    model = varied()
    ids, mask = left_pad(ROWS)
    W = ids.shape[1]
    for use_cache in (True, False):
        out = model.generate(ids, 8, do_sample=False, attention_mask=mask, use_cache=use_cache)
        for i, row in enumerate(ROWS):
            alone = model.generate(np.array([row]), 8, do_sample=False, use_cache=use_cache)
            np.testing.assert_array_equal(out[i, W:], alone[0, len(row):])
    # one seed per row: each row samples what it would alone with that seed
    out = model.generate(ids, 8, attention_mask=mask, seed=[5, 6, 7])
    for i, row in enumerate(ROWS):
        np.testing.assert_array_equal(out[i, W:], model.generate(np.array([row]), 8, seed=5 + i)[0, len(row):])


def test_a_padded_batch_slides_all_rows_together_past_block_size():
    model = varied()
    same = [[1, 2, 3], [4, 5, 6]]  # no padding: each row slides as it does alone
    out = model.generate(np.array(same), 30, do_sample=False, attention_mask=np.ones((2, 3), np.int64))
    for i, row in enumerate(same):
        np.testing.assert_array_equal(out[i], model.generate(np.array([row]), 30, do_sample=False)[0])
    ids, mask = left_pad(ROWS)
    out = model.generate(ids, 30, do_sample=False, attention_mask=mask)
    assert out.shape == (3, ids.shape[1] + 30) and out.min() >= 0 and out.max() < 23
    # the rows slid at the same step: until then each equals its run alone
    first_slide = model.config.block_size - ids.shape[1]
    for i, row in enumerate(ROWS):
        alone = model.generate(np.array([row]), first_slide, do_sample=False)[0, len(row):]
        np.testing.assert_array_equal(out[i, ids.shape[1]:ids.shape[1] + first_slide], alone)


def test_bad_attention_masks():
    model = tiny()
    with pytest.raises(ValueError, match="pad on the left"):
        model.generate(np.array([[1, 2]]), 2, attention_mask=np.array([[1, 0]]))
    with pytest.raises(ValueError, match="does not match input_ids"):
        model(np.array([[1, 2]]), attention_mask=np.array([[1, 1, 1]]))
    with pytest.raises(ValueError, match="2 seeds for 1 rows"):
        model.generate(np.array([[1, 2]]), 2, seed=[1, 2])


def test_bad_sampling_arguments():
    model = tiny()
    with pytest.raises(ValueError, match="temperature"):
        model.generate(np.array([[1]]), 2, temperature=0)
    with pytest.raises(ValueError, match="top_p"):
        model.generate(np.array([[1]]), 2, top_p=1.5)


def test_save_and_load_pretrained_round_trip(tmp_path):
    model = tiny()
    model.save_pretrained(tmp_path)
    cfg = json.loads((tmp_path / "config.json").read_text())
    assert cfg["model_type"] == "gpt2" and cfg["activation_function"] == "gelu_new"
    again = GPT.from_pretrained(tmp_path)
    ids = np.array([[3, 1, 4, 1, 5]])
    np.testing.assert_array_equal(model(ids).logits.data, again(ids).logits.data)


def test_pickle_checkpoints_are_refused(tmp_path):
    tiny().save_pretrained(tmp_path)
    (tmp_path / "model.safetensors").unlink()
    (tmp_path / "pytorch_model.bin").write_bytes(b"not read")
    with pytest.raises(ValueError, match="never loads"):
        GPT.from_pretrained(tmp_path)


def test_corrupted_weights_give_a_clear_error(tmp_path):
    tiny().save_pretrained(tmp_path)
    data = (tmp_path / "model.safetensors").read_bytes()
    (tmp_path / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="safetensors"):
        GPT.from_pretrained(tmp_path)
