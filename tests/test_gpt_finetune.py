"""A GPT from pretrained weights to a model of your own and back: `finetune gpt --init`
a Hugging Face GPT-2 folder with its tokenizer, `train gpt --tokenizer`, and `minitx
export` of every GPT run into a folder transformers' AutoModelForCausalLM and
AutoTokenizer load, with the same greedy text and logits."""
import json

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="parity tests need PyTorch (pip install .[parity])")
transformers = pytest.importorskip("transformers", reason="parity tests need transformers")

import minitx  # noqa: E402
from minitx.backend import use_backend  # noqa: E402
from minitx.cli import main  # noqa: E402
from minitx.data import builtin_documents  # noqa: E402
from minitx.tokenizers import BPETokenizer  # noqa: E402

TINY = ["--batch-size", "4", "--eval-interval", "10", "--eval-iters", "2", "--no-progress", "--sample-tokens", "0"]
PROMPT = "The if statement"


@pytest.fixture(autouse=True)
def numpy_backend():
    with use_backend("numpy"):   # the training machinery, not the kernels (tested on their own)
        yield


@pytest.fixture(scope="module")
def text(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "text.txt"
    path.write_text("\n\n".join(builtin_documents()[:6]), encoding="utf-8")
    return path


def gpt2_folder(path, text):
    """A GPT-2 as transformers saves it, with GPT-2's tokenizer files (vocab.json, merges.txt)."""
    tok = BPETokenizer.train(text.read_text(encoding="utf-8"), 300)
    torch.manual_seed(0)
    config = transformers.GPT2Config(vocab_size=tok.vocab_size, n_positions=64, n_embd=32, n_layer=2, n_head=2)
    transformers.GPT2LMHeadModel(config).save_pretrained(path)
    tok.save_gpt2_files(path / "vocab.json", path / "merges.txt")
    return path


def evals(run):
    return [r["val_loss"] for r in map(json.loads, (run / "metrics.jsonl").read_text().splitlines())
            if "val_loss" in r]


def same_as_transformers(run, exported, prompt=PROMPT, new=12):
    """The exported folder in transformers: the same tokens, logits and greedy text as minitx."""
    model = transformers.AutoModelForCausalLM.from_pretrained(exported).eval().double()
    tok = transformers.AutoTokenizer.from_pretrained(exported)
    ours = minitx.pipeline("text-generation", model=str(run))
    ids = ours.tokenizer.encode(prompt)
    assert tok(prompt)["input_ids"] == ids
    ours.model.double()
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits.numpy()
        greedy = model.generate(torch.tensor([ids]), max_new_tokens=new, do_sample=False,
                                pad_token_id=model.config.eos_token_id or 0)
    np.testing.assert_allclose(ours.model(np.array([ids])).logits.data, logits, atol=1e-8, rtol=1e-7)
    want = tok.decode(greedy[0], skip_special_tokens=False)
    assert ours(prompt, max_new_tokens=new, do_sample=False)[0]["generated_text"] == want


def test_finetune_a_gpt2_folder_then_export_it(tmp_path, text):
    init = gpt2_folder(tmp_path / "gpt2", text)
    run = tmp_path / "run"
    assert main(["finetune", "gpt", "--init", str(init), "--data", str(text), "--out", str(run),
                 "--max-iters", "30", "--lr", "3e-3", "--block-size", "32", *TINY]) == 0
    losses = evals(run)
    assert losses[-1] < losses[0] - 0.3, losses          # it learns the text
    assert main(["export", str(run), str(tmp_path / "hf")]) == 0
    same_as_transformers(run, tmp_path / "hf")
    assert main(["train", "gpt", "--init", str(init), "--n-layer", "3", "--data", str(text),
                 "--out", str(tmp_path / "x")]) == 1   # the shape comes from --init


@pytest.mark.parametrize("spec", ["bpe:300", "char"])
def test_a_new_tokenizer_is_saved_as_transformers_reads_it(tmp_path, text, spec):
    run = tmp_path / "run"
    assert main(["train", "gpt", "--tokenizer", spec, "--data", str(text), "--out", str(run), "--max-iters", "4",
                 "--n-layer", "1", "--n-head", "2", "--n-embd", "16", "--block-size", "32", *TINY]) == 0
    if spec.startswith("bpe"):   # the checkpoint's own tokenizer.json, read by the tokenizers library
        theirs = transformers.PreTrainedTokenizerFast(tokenizer_file=str(run / "last" / "tokenizer.json"))
        ours = BPETokenizer.load(run / "last" / "tokenizer.json")
        assert ours.vocab_size == 300 and theirs(PROMPT)["input_ids"] == ours.encode(PROMPT)
    assert main(["export", str(run), str(tmp_path / "hf")]) == 0
    same_as_transformers(run, tmp_path / "hf")


def test_bad_tokenizer_and_init_are_one_line(tmp_path, text, capsys):
    for argv, message in [(["--tokenizer", "bpe:12"], "bpe:N needs N >= 257"),
                          (["--tokenizer", "nonsense"], "not char, bpe:N, or a tokenizer folder"),
                          (["--init", str(tmp_path / "none")], "no such folder")]:
        assert main(["train", "gpt", "--data", str(text), "--out", str(tmp_path / "r"), *argv, *TINY]) == 1
        assert message in capsys.readouterr().err


def test_export_of_a_bert_run_loads_in_transformers(tmp_path):
    """`minitx export` takes every run kind: a fine-tuned classifier comes out as a folder
    AutoModelForSequenceClassification and AutoTokenizer load, with the same logits."""
    from minitx.models import bert
    from minitx.tokenizers import WordPieceTokenizer
    from minitx.training.checkpoint import save_checkpoint
    texts = ["the cat sat on the mat", "a dog ate the rat", "the docs are great"]
    tok = WordPieceTokenizer.train(texts * 2, 60, min_frequency=1)
    minitx.manual_seed(0)
    model = bert.BertForSequenceClassification(bert.BertConfig(
        vocab_size=tok.vocab_size, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=32, max_position_embeddings=32, num_labels=2, id2label={0: "neg", 1: "pos"}))
    save_checkpoint(tmp_path / "run" / "best", model, {"model_type": "bert-classify", "model": model.config.to_dict()},
                    tokenizer=tok)
    assert main(["export", str(tmp_path / "run"), str(tmp_path / "hf")]) == 0
    theirs = transformers.AutoModelForSequenceClassification.from_pretrained(tmp_path / "hf").eval()
    their_tok = transformers.AutoTokenizer.from_pretrained(tmp_path / "hf")
    enc = their_tok(texts, padding=True, return_tensors="pt")
    ours = tok.encode_batch(texts)
    np.testing.assert_array_equal(enc["input_ids"].numpy(), ours.input_ids)
    with torch.no_grad():
        want = theirs(**enc).logits.numpy()
    got = model.eval()(ours.input_ids, ours.attention_mask, ours.token_type_ids).logits.data
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=1e-4)
    assert theirs.config.id2label == {0: "neg", 1: "pos"}
    assert main(["export", str(tmp_path / "run"), str(tmp_path / "hf")]) == 1   # never into a full folder
