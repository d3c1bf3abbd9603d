"""GPTConfig.position: learned (GPT-2's), sinusoidal and rotary positions in the model:
the KV cache, left padding, sliding past block_size, shifted positions, parameters,
training, checkpoints and the GPT-2 layout."""
import json

import numpy as np
import pytest

import minitx
from minitx.models.gpt import GPT, GPTConfig
from minitx.training.checkpoint import build_model, load_checkpoint, save_checkpoint
from tests.test_gpt import left_pad

POSITIONS = ["learned", "sinusoidal", "rotary"]
ROWS = [[3, 1, 4, 1, 5, 9], [2, 7], [1, 8, 2]]


def varied(position, block_size=16, **overrides):
    """A tiny GPT with weights scaled up, so greedy continuations vary rather than repeat."""
    minitx.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=23, block_size=block_size, n_layer=2, n_head=2, n_embd=8,
                          position=position, **overrides)).eval()
    for p in model.parameters():
        p.data *= 8
    return model


@pytest.mark.parametrize("position", POSITIONS)
def test_greedy_with_cache_equals_recomputation(position):
    """The tokens, and the logits of every cached step against one forward over the whole
    sequence (greedy tokens of a random model may repeat; the logits still see positions)."""
    model = varied(position)
    prompt = np.array([[1, 2, 3], [4, 5, 6]])
    out = model.generate(prompt, 12, do_sample=False)
    np.testing.assert_array_equal(out, model.generate(prompt, 12, do_sample=False, use_cache=False))
    caches = [minitx.nn.KVCache(16) for _ in model.transformer.h]
    steps = [model(out[:, :3], kv_caches=caches).logits.data]
    steps += [model(out[:, t:t + 1], kv_caches=caches).logits.data for t in range(3, out.shape[1])]
    np.testing.assert_allclose(np.concatenate(steps, axis=1), model(out).logits.data, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("position", POSITIONS)
def test_left_padded_batch_with_cache_equals_recomputation_and_each_row_alone(position):
    model = varied(position)
    ids, mask = left_pad(ROWS)
    W = ids.shape[1]
    out = model.generate(ids, 8, do_sample=False, attention_mask=mask)
    np.testing.assert_array_equal(out, model.generate(ids, 8, do_sample=False, attention_mask=mask,
                                                      use_cache=False))
    logits = model(ids, attention_mask=mask).logits.data
    for i, row in enumerate(ROWS):
        np.testing.assert_array_equal(out[i, W:], model.generate(np.array([row]), 8, do_sample=False)[0, len(row):])
        np.testing.assert_allclose(logits[i, -len(row):], model(np.array([row])).logits.data[0],
                                   atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("position", POSITIONS)
def test_sliding_past_block_size_predicts_from_the_cached_window(position):
    """Past block_size the cache is rebuilt from the last block_size // 2 tokens, positions
    from 0 again: each token is the greedy one of a fresh forward over that window."""
    bs = 8
    model = varied(position, block_size=bs).double()
    prompt = np.array([[1, 2, 3], [5, 6, 7]])
    out = model.generate(prompt, 3 * bs, do_sample=False)
    n = prompt.shape[1]                                   # tokens the next prediction sees
    for i in range(prompt.shape[1], out.shape[1]):
        window = out[:, i - n:i]
        np.testing.assert_array_equal(out[:, i], model(window).logits.data[:, -1].argmax(-1), err_msg=f"token {i}")
        n = n + 1 if n < bs else bs // 2


@pytest.mark.parametrize("position", POSITIONS)
def test_shifting_every_position_changes_only_absolute_schemes(position):
    """q . k after rotation depends on the distance only: rotary logits stay when every
    position id moves by 7; learned and sinusoidal ones (added to the input) change."""
    model = varied(position).double()
    ids = np.array([[3, 1, 4, 1, 5, 9, 2, 6]])
    T = ids.shape[1]
    base = model(ids, position_ids=np.arange(T)[None]).logits.data
    np.testing.assert_array_equal(base, model(ids).logits.data)     # the default is arange
    shifted = model(ids, position_ids=np.arange(T)[None] + 7).logits.data
    if position == "rotary":
        np.testing.assert_allclose(shifted, base, rtol=1e-10, atol=1e-10)
    else:
        assert np.abs(shifted - base).max() > 1e-3


def test_rotary_self_attention_alone_counts_positions_after_its_cache():
    """Without position_ids, a rotary layer places new tokens after the cached ones."""
    minitx.manual_seed(0)
    attn = minitx.nn.SelfAttention(minitx.nn.BlockConfig(8, 2, position="rotary")).double()
    x = minitx.Tensor(np.random.default_rng(1).standard_normal((2, 6, 8)))
    ctx = minitx.nn.ForwardContext(kv_caches=[minitx.nn.KVCache(6)])
    steps = np.concatenate([attn(x[:, :4], ctx).data, attn(x[:, 4:5], ctx).data, attn(x[:, 5:], ctx).data], axis=1)
    np.testing.assert_allclose(steps, attn(x).data, rtol=1e-10, atol=1e-12)


def test_only_learned_positions_have_parameters():
    names = {p: set(varied(p).state_dict()) for p in POSITIONS}
    assert "transformer.wpe.weight" in names["learned"]
    for p in ("sinusoidal", "rotary"):
        assert names[p] == names["learned"] - {"transformer.wpe.weight"}
    learned, sinusoidal = (varied(p) for p in ("learned", "sinusoidal"))
    assert learned.num_parameters() - sinusoidal.num_parameters() == 16 * 8   # block_size x C


def test_sinusoidal_positions_are_the_papers_table():
    model = varied("sinusoidal")
    ids = np.array([[4, 2, 0, 2]])
    tok = model.transformer.wte(ids).data
    table = minitx.nn.functional.sinusoidal_position_encoding(16, 8).data
    np.testing.assert_array_equal(model._embed(ids, np.arange(4)).data, tok + table[:4])


def test_output_attentions_reads_the_rotated_queries_and_keys():
    """With a cache, attentions are (B, NH, T_new, T_past + T_new) and equal the rows of
    the full forward's."""
    model = varied("rotary")
    ids = np.array([[3, 1, 4, 1, 5, 9]])
    full = model(ids, output_attentions=True).attentions
    caches = [minitx.nn.KVCache(16) for _ in model.transformer.h]
    model(ids[:, :4], kv_caches=caches)
    step = model(ids[:, 4:], kv_caches=caches, output_attentions=True).attentions
    for a, b in zip(full, step):
        assert b.shape == (1, 2, 2, 6)
        np.testing.assert_allclose(b.data, a.data[:, :, 4:], atol=1e-5)


@pytest.mark.parametrize("position", ["sinusoidal", "rotary"])
def test_gradient_matches_finite_differences_float64(position):
    model = varied(position).double()
    for p in model.parameters():
        p.data /= 8
    ids = np.random.default_rng(2).integers(0, 23, size=(2, 5))
    for p in (model.transformer.h[0].attn.c_attn.weight, model.transformer.wte.weight):
        minitx.testing.gradcheck(lambda w: model(ids, targets=ids).loss, p, atol=1e-7, rtol=1e-5)


def test_a_rotary_gpt_trains_and_its_checkpoint_loads_bit_exactly(tmp_path):
    minitx.manual_seed(0)
    cfg = GPTConfig(vocab_size=13, block_size=16, n_layer=2, n_head=2, n_embd=16, position="rotary", rope_base=500.0)
    model = GPT(cfg)
    opt = minitx.optim.AdamW(model.parameters(), lr=1e-2)
    ids = np.tile(np.arange(13), 4)[None, :17].repeat(4, axis=0)       # (4, 17): a pattern to learn
    losses = []
    for _ in range(15):
        loss = model(ids[:, :-1], targets=ids[:, 1:]).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
    save_checkpoint(tmp_path / "c", model, {"model_type": "gpt", "model": cfg.to_dict()})
    stored = json.loads((tmp_path / "c" / "config.json").read_text())["model"]
    assert stored["position"] == "rotary" and stored["rope_base"] == 500.0
    again = build_model(load_checkpoint(tmp_path / "c"))
    assert again.config == cfg
    for name, value in model.state_dict().items():
        assert np.array_equal(again.state_dict()[name], value), name
    np.testing.assert_array_equal(again(ids[:, :-1]).logits.data, model(ids[:, :-1]).logits.data)


def test_config_round_trip_and_old_configs_load_as_learned():
    cfg = GPTConfig(n_layer=1, position="sinusoidal", rope_base=50.0)
    assert GPTConfig.from_dict(cfg.to_dict(), "config.json") == cfg
    old = GPTConfig(n_layer=1).to_dict()
    del old["position"], old["rope_base"]
    assert GPTConfig.from_dict(old, "config.json").position == "learned"


@pytest.mark.parametrize("kwargs, words", [
    (dict(position="alibi"), "GPTConfig: position 'alibi' is not one of ['learned', 'rotary', 'sinusoidal']"),
    (dict(position="rotary", n_embd=12, n_head=4), "GPTConfig: rotary positions need an even head size, got "
                                                   "n_embd 12 / n_head 4 = 3"),
    (dict(rope_base=0.0), "GPTConfig: rope_base must be positive, got 0.0"),
])
def test_bad_position_configs(kwargs, words):
    with pytest.raises(ValueError) as info:
        GPTConfig(**kwargs)
    assert str(info.value) == words


@pytest.mark.parametrize("position", ["sinusoidal", "rotary"])
def test_gpt2_layout_refuses_other_positions(tmp_path, position):
    with pytest.raises(ValueError) as info:
        varied(position).save_pretrained(tmp_path / "m")
    assert str(info.value) == (f"save_pretrained: GPT-2's layout has learned positions; this model has "
                               f"position={position!r}")
    assert not (tmp_path / "m").exists()


def test_train_gpt_takes_position(tmp_path, capsys):
    from minitx.backend import use_backend
    from minitx.cli import gpt as cli_gpt
    from minitx.cli.app import main
    assert cli_gpt.POSITIONS == minitx.nn.transformer.POSITIONS
    out = str(tmp_path / "run")
    with use_backend("numpy"):
        assert main(["train", "gpt", "--out", out, "--position", "rotary", "--max-iters", "2", "--n-layer", "1",
                     "--n-head", "2", "--n-embd", "16", "--block-size", "16", "--batch-size", "2",
                     "--eval-interval", "2", "--eval-iters", "1", "--no-progress", "--sample-tokens", "0"]) == 0
    assert "rotary positions" in capsys.readouterr().err
    ckpt = load_checkpoint(tmp_path / "run" / "last")
    assert ckpt.config["model"]["position"] == ckpt.config["options"]["position"] == "rotary"
    assert "transformer.wpe.weight" not in build_model(ckpt).state_dict()
