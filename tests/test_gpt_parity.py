"""GPT against transformers' GPT2LMHeadModel on the same random weights.

Tolerances: float64 agrees to ~1e-10 (we assert 1e-9 on logits and loss, and
1e-8 relative on gradients); float32 to ~1e-5 relative.
"""
import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="parity tests need PyTorch (pip install .[parity])")
transformers = pytest.importorskip("transformers", reason="parity tests need transformers")

from minitx.models.gpt import GPT, GPTConfig  # noqa: E402

V, T = 37, 12


def hf_model(tmp_path, dtype):
    torch.manual_seed(0)
    cfg = transformers.GPT2Config(vocab_size=V, n_positions=16, n_embd=24, n_layer=2, n_head=3,
                                  resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)
    model = transformers.GPT2LMHeadModel(cfg)
    with torch.no_grad():  # non-trivial biases and LayerNorm weights
        for name, p in model.named_parameters():
            if name.endswith("bias") or ".ln_" in name:
                p.add_(0.1 * torch.randn_like(p))
    model.save_pretrained(tmp_path)
    return model.to(dtype).eval()


@pytest.mark.parametrize("dtype,atol,rtol", [(np.float64, 1e-9, 1e-8), (np.float32, 2e-5, 2e-4)])
def test_logits_loss_and_every_gradient_match(tmp_path, dtype, atol, rtol):
    theirs = hf_model(tmp_path, torch.float64 if dtype == np.float64 else torch.float32)
    ours = GPT.from_pretrained(tmp_path, dtype=dtype)
    ids = np.random.default_rng(0).integers(0, V, size=(2, T))
    out = theirs(torch.from_numpy(ids))
    # transformers computes its own loss in float32 whatever the model dtype, so
    # the reference loss is taken from its logits in the test's dtype.
    ref_loss = torch.nn.functional.cross_entropy(out.logits[:, :-1].reshape(-1, V),
                                                 torch.from_numpy(ids[:, 1:]).reshape(-1))
    ref_loss.backward()
    targets = np.concatenate([ids[:, 1:], np.full((2, 1), -100)], axis=1)  # next-token targets
    mine = ours(ids, targets=targets)
    mine.loss.backward()
    np.testing.assert_allclose(mine.logits.data, out.logits.detach().numpy(), atol=atol, rtol=rtol)
    np.testing.assert_allclose(mine.loss.item(), ref_loss.item(), atol=atol, rtol=rtol)
    grads = {n: p.grad.numpy() for n, p in theirs.named_parameters()}
    conv1d = ("c_attn.weight", "c_proj.weight", "c_fc.weight")
    checked = 0
    for name, p in ours.named_parameters():
        g = grads[name]
        g = g.T if name.endswith(conv1d) else g
        scale = np.abs(g).max() + 1e-30
        np.testing.assert_allclose(p.grad / scale, g / scale, atol=atol * 10, rtol=rtol, err_msg=name)
        checked += 1
    assert checked == len(grads)


def test_round_trip_into_transformers(tmp_path):
    from minitx import manual_seed
    manual_seed(1)
    ours = GPT(GPTConfig(vocab_size=V, block_size=16, n_layer=2, n_head=2, n_embd=16))
    ours.save_pretrained(tmp_path)
    theirs = transformers.GPT2LMHeadModel.from_pretrained(tmp_path).eval()
    ids = np.random.default_rng(3).integers(0, V, size=(1, 9))
    with torch.no_grad():
        ref = theirs(torch.from_numpy(ids)).logits.numpy()
    np.testing.assert_allclose(ours(ids).logits.data, ref, atol=2e-5, rtol=1e-4)


def test_greedy_generation_matches_transformers(tmp_path):
    theirs = hf_model(tmp_path, torch.float64)
    ours = GPT.from_pretrained(tmp_path, dtype=np.float64)
    prompt = np.array([[5, 1, 7]])
    with torch.no_grad():
        ref = theirs.generate(torch.from_numpy(prompt), max_new_tokens=10, do_sample=False,
                              pad_token_id=0).numpy()
    np.testing.assert_array_equal(ours.generate(prompt, 10, do_sample=False), ref)


def test_left_padded_batch_matches_transformers(tmp_path):
    """Prompts of different lengths, left-padded with an attention mask: the logits at
    real positions and the greedy tokens equal transformers' (position ids as its
    generate makes them: cumsum of the mask - 1)."""
    theirs = hf_model(tmp_path, torch.float32)
    ours = GPT.from_pretrained(tmp_path).eval()
    rows = [[5, 1, 7, 2, 9, 3], [4, 8], [11, 6, 30]]
    W = max(map(len, rows))
    ids, mask = np.zeros((3, W), np.int64), np.zeros((3, W), np.int64)
    for i, row in enumerate(rows):
        ids[i, W - len(row):], mask[i, W - len(row):] = row, 1
    positions = np.where(mask, mask.cumsum(1) - 1, 0)
    with torch.no_grad():
        ref = theirs(torch.from_numpy(ids), attention_mask=torch.from_numpy(mask),
                     position_ids=torch.from_numpy(positions)).logits.numpy()
        want = theirs.generate(torch.from_numpy(ids), attention_mask=torch.from_numpy(mask), max_new_tokens=8,
                               do_sample=False, pad_token_id=0).numpy()
    got = ours(ids, attention_mask=mask).logits.data
    real = mask.astype(bool)
    np.testing.assert_allclose(got[real], ref[real], atol=1e-5, rtol=1e-5)
    np.testing.assert_array_equal(ours.generate(ids, 8, do_sample=False, attention_mask=mask), want)


def test_a_transformers_folder_loads_ready_to_use(tmp_path, capsys):
    """GPT-2 as transformers saves it: from_pretrained gives eval mode (transformers' logits,
    dropout and all, without a call to .eval()), C-ordered parameters (GPT-2's Conv1D weights
    are stored transposed), an AdamW step that runs, and `minitx check` passes on the folder."""
    from minitx.cli import main
    from minitx.optim import AdamW
    torch.manual_seed(0)
    cfg = transformers.GPT2Config(vocab_size=V, n_positions=16, n_embd=24, n_layer=2, n_head=3)  # dropout 0.1
    theirs = transformers.GPT2LMHeadModel(cfg).eval()
    theirs.save_pretrained(tmp_path)
    ours = GPT.from_pretrained(tmp_path)
    assert not ours.training
    ids = np.random.default_rng(4).integers(0, V, size=(2, T))
    with torch.no_grad():
        ref = theirs(torch.from_numpy(ids)).logits.numpy()
    np.testing.assert_allclose(ours(ids).logits.data, ref, atol=2e-5, rtol=1e-4)
    assert all(p.data.flags.c_contiguous for p in ours.parameters())
    ours.train()
    opt = AdamW(ours.parameters(), lr=1e-3)
    ours(ids[:, :-1], targets=ids[:, 1:]).loss.backward()
    opt.step()
    assert main(["check", "--model", str(tmp_path)]) == 0, capsys.readouterr().out


@pytest.mark.parametrize("options", [dict(repetition_penalty=1.5), dict(no_repeat_ngram_size=2),
                                     dict(repetition_penalty=0.7, no_repeat_ngram_size=3)],
                         ids=["penalty", "ngram", "both"])
def test_greedy_generation_options_match_transformers(tmp_path, options):
    """repetition_penalty and no_repeat_ngram_size as transformers applies them (over the
    whole row, prompt and left padding included), on a batch of prompts of two lengths."""
    theirs = hf_model(tmp_path, torch.float64)
    ours = GPT.from_pretrained(tmp_path, dtype=np.float64)
    ids = np.array([[0, 0, 5, 1, 7], [4, 8, 4, 8, 4]])
    mask = np.array([[0, 0, 1, 1, 1], [1, 1, 1, 1, 1]])
    with torch.no_grad():
        want = theirs.generate(torch.from_numpy(ids), attention_mask=torch.from_numpy(mask), max_new_tokens=12,
                               do_sample=False, pad_token_id=0, **options).numpy()
        plain = theirs.generate(torch.from_numpy(ids), attention_mask=torch.from_numpy(mask), max_new_tokens=12,
                                do_sample=False, pad_token_id=0).numpy()
    got = ours.generate(ids, 12, do_sample=False, attention_mask=mask, **options)
    np.testing.assert_array_equal(got, want)
    assert (want != plain).any(), "the option should change the greedy tokens here"


def test_num_return_sequences_gives_that_many_rows_per_prompt(tmp_path):
    hf_model(tmp_path, torch.float32)
    ours = GPT.from_pretrained(tmp_path)
    prompts = np.array([[5, 1, 7], [4, 8, 2]])
    out = ours.generate(prompts, 6, num_return_sequences=3, seed=0, top_k=20)
    assert out.shape == (6, 9)
    np.testing.assert_array_equal(out[:, :3], np.repeat(prompts, 3, axis=0))   # copies side by side
    assert len({tuple(r) for r in out[:3, 3:]}) > 1                             # drawn apart
    np.testing.assert_array_equal(out, ours.generate(prompts, 6, num_return_sequences=3, seed=0, top_k=20))
