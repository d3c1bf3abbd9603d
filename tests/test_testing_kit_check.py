"""`minitx check`: the invariants table on a GPT checkpoint and a Hugging Face BERT
folder, exit 0 when all hold and 1 when one fails."""
import re

import numpy as np
import pytest

import minitx as mt
from minitx.cli import main
from minitx.models.bert import BertConfig, BertModel
from minitx.models.gpt import GPT, GPTConfig
from minitx.training import checkpoint
from minitx.training.checkpoint import save_checkpoint


@pytest.fixture
def gpt_checkpoint(tmp_path):
    mt.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=13, block_size=8, n_layer=2, n_head=2, n_embd=8))
    save_checkpoint(tmp_path / "gpt", model, {"model_type": "gpt", "model": model.config.to_dict()})
    return tmp_path / "gpt"


def table(out):
    """{invariant: result} of the printed table (columns are 2 or more spaces apart)."""
    return {re.split(r"\s{2,}", line)[0]: re.split(r"\s{2,}", line)[1]
            for line in out.splitlines()[1:-1]}


def test_gpt_checkpoint_holds_every_invariant(gpt_checkpoint, capsys):
    assert main(["check", "--model", str(gpt_checkpoint)]) == 0
    out = capsys.readouterr().out
    rows = table(out)
    assert rows["KV-cache decoding equals recomputation"] == "pass"
    assert rows["a row of a batch equals that row alone"] == "pass"
    assert rows["Numba kernels equal their NumPy twins"] == "pass"
    assert rows["save and load round-trip bit-exactly"] == "pass"
    assert rows["1 thread equals 2 threads, bit for bit"] in ("pass", "skip")
    assert "all invariants hold" in out


def test_a_failing_invariant_exits_1(gpt_checkpoint, capsys, monkeypatch):
    build = checkpoint.build_model

    def lossy(ckpt, *args, **kwargs):       # a loader that loses the last bit of a weight
        model = build(ckpt, *args, **kwargs)
        w = model.transformer.wte.weight.data
        w[0, 0] = np.nextafter(w[0, 0], np.float32(1))
        return model

    monkeypatch.setattr(checkpoint, "build_model", lossy)
    assert main(["check", "--model", str(gpt_checkpoint)]) == 1
    out = capsys.readouterr().out
    assert table(out)["save and load round-trip bit-exactly"] == "FAIL"
    assert "transformer.wte.weight" in out and "1 of 5 invariants failed" in out


def test_bert_folder_with_padding_and_reference(tmp_path, capsys):
    mt.manual_seed(0)
    BertModel(BertConfig(vocab_size=20, hidden_size=8, num_hidden_layers=2, num_attention_heads=2,
                         intermediate_size=16, max_position_embeddings=16)).save_pretrained(tmp_path / "bert")
    argv = ["check", "--model", str(tmp_path / "bert")]
    try:
        import torch  # noqa: F401
        import transformers  # noqa: F401
        argv += ["--reference", str(tmp_path / "bert")]
    except ImportError:
        pass
    assert main(argv) == 0
    rows = table(capsys.readouterr().out)
    assert rows["padding leaves unpadded positions alone"] == "pass"
    assert rows["save and load round-trip bit-exactly"] == "pass"
    if "--reference" in argv:
        assert rows["no divergence from the reference"] == "pass"


def test_missing_folder_is_one_line(tmp_path, capsys):
    assert main(["check", "--model", str(tmp_path / "nope")]) == 1
    assert "no such folder" in capsys.readouterr().err


def test_reference_divergence_is_a_failing_row(gpt_checkpoint, tmp_path, capsys):
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    mt.manual_seed(0)
    other = GPT(GPTConfig(vocab_size=13, block_size=8, n_layer=2, n_head=2, n_embd=8))
    other.save_pretrained(tmp_path / "hf")
    assert main(["check", "--model", str(gpt_checkpoint), "--reference", str(tmp_path / "hf")]) == 0
    other.transformer.h[1].attn.c_proj.bias.data[2] += 1e-2
    other.save_pretrained(tmp_path / "hf")
    capsys.readouterr()
    assert main(["check", "--model", str(gpt_checkpoint), "--reference", str(tmp_path / "hf")]) == 1
    out = capsys.readouterr().out
    assert table(out)["no divergence from the reference"] == "FAIL"
    assert "transformer.h.1.attn.c_proj" in out
