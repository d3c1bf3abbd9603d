"""Hostile input files and options: Hugging Face folders with a bad config,
vocab or tokenizer_config, options that were silently ignored, and messages that did
not say what was wrong. Each is one line `minitx: error: ...` naming the file, key or
option, before anything is written.

The runs are tiny ones the `cli_runs` fixture trains once (tests/conftest.py); each
test copies what it changes. See tests/cli_harness.py for the helpers.
"""
import json
import os

import pytest

from tests.cli_harness import BERT_TINY, GPT_TINY, copy, environment, error_line, minitx, write_jsonl

_DELETE = object()

# (case, key the error names, its value: _DELETE removes the key; key None: the whole
# file is replaced by the value). The last two were accepted without a word.
_BERT_CONFIGS = [
    ("hidden_size a string", "hidden_size", "16"),
    ("no vocab_size", "vocab_size", _DELETE),
    ("an array", None, [1, 2]),
    ("layers a float", "num_hidden_layers", 1.5),
    ("heads null", "num_attention_heads", None),
    ("positions too few for the weights", "max_position_embeddings", 2),
    ("layers a boolean", "num_hidden_layers", True),
    ("epsilon a string", "layer_norm_eps", "1e-12"),
]
_GPT_CONFIGS = [
    ("n_embd a string", "n_embd", "16"),
    ("no vocab_size", "vocab_size", _DELETE),
    ("an array", None, [1, 2]),
    ("layers a float", "n_layer", 1.5),
    ("heads null", "n_head", None),
    ("positions too few for the weights", "n_positions", 2),
    ("layers a boolean", "n_layer", True),
    ("epsilon a string", "layer_norm_epsilon", "1e-5"),
]


def _edit_config(folder, key, value):
    file = folder / "config.json"
    if key is None:
        config = value
    else:
        config = json.loads(file.read_text())
        if value is _DELETE:
            del config[key]
        else:
            config[key] = value
    file.write_text(json.dumps(config))
    return file


def _finetune(runs, init, *args, data=None, task="classify"):
    return ["finetune", "bert", "--task", task, "--data", data or runs.classify, "--init", init, "--out", "ft",
            "--max-iters", "1", "--batch-size", "2", "--no-progress", *args]


@pytest.mark.parametrize("target", ["embed", "finetune", "from_pretrained"])
@pytest.mark.parametrize("case, key, value", _BERT_CONFIGS, ids=[c[0] for c in _BERT_CONFIGS])
def test_a_bad_bert_config_json_is_one_error_naming_file_and_key(cli_runs, tmp_path, target, case, key, value):
    """A Hugging Face config.json with wrong types or missing keys is refused in one
    line, not accepted and not a TypeError, KeyError, AttributeError or RuntimeError."""
    hf = copy(cli_runs.hf, tmp_path / "hf")
    _edit_config(hf, key, value)
    names = [os.path.join("hf", "config.json")] + ([key] if key else [])
    if target == "from_pretrained":
        from minitx.models.bert import BertModel
        with pytest.raises(ValueError) as e:
            BertModel.from_pretrained(str(hf))
        assert all(name in str(e.value) for name in names), str(e.value)
        return
    argv = ["embed", "--model", "hf", "the cat"] if target == "embed" else _finetune(cli_runs, "hf")
    error_line(minitx(*argv, cwd=tmp_path), *names)
    assert not (tmp_path / "ft").exists()


@pytest.mark.parametrize("case, key, value", _GPT_CONFIGS, ids=[c[0] for c in _GPT_CONFIGS])
def test_a_bad_gpt2_config_json_is_one_error_naming_file_and_key(tmp_path, case, key, value):
    """The same for GPT.from_pretrained on a GPT-2 folder."""
    from minitx.models.gpt import GPT, GPTConfig
    GPT(GPTConfig(vocab_size=24, block_size=8, n_layer=1, n_head=2, n_embd=16)).save_pretrained(str(tmp_path))
    file = _edit_config(tmp_path, key, value)
    with pytest.raises(ValueError) as e:
        GPT.from_pretrained(str(tmp_path))
    for name in [str(file)] + ([key] if key else []):
        assert name in str(e.value), str(e.value)


def _vocab_only(runs, folder):
    """The Hugging Face export with vocab.txt as its only tokenizer file."""
    hf = copy(runs.hf, folder)
    (hf / "tokenizer.json").unlink()
    return hf


@pytest.mark.parametrize("command", ["embed", "finetune"])
def test_a_vocab_larger_than_the_model_is_refused_when_loading(cli_runs, tmp_path, command):
    """A vocab.txt with more tokens than the model's vocab_size is refused by `embed`
    (not an IndexError) and by `finetune`."""
    hf = _vocab_only(cli_runs, tmp_path / "hf")
    with open(hf / "vocab.txt", "a", encoding="utf-8") as f:
        f.writelines(f"zz{i}\n" for i in range(50))
    argv = ["embed", "--model", "hf", "zz3 zz40"] if command == "embed" else _finetune(cli_runs, "hf")
    error_line(minitx(*argv, cwd=tmp_path), os.path.join("hf", "vocab.txt"))
    assert not (tmp_path / "ft").exists()


def test_a_bogus_backend_is_one_line(cli_runs, tmp_path):
    """MINITX_BACKEND=bogus is one line naming the variable and the value, not a
    traceback at import."""
    done = minitx("sample", "--ckpt", cli_runs.gpt, "--max-new-tokens", "2", cwd=tmp_path,
                  env=environment(MINITX_BACKEND="bogus"))
    error_line(done, "MINITX_BACKEND", "bogus")


# ---- options that were silently ignored ---------------------------------------------------

@pytest.mark.parametrize("command", ["train gpt", "train bert", "finetune bert"])
def test_val_fraction_zero_is_refused_up_front(cli_runs, tmp_path, command):
    """--val-fraction 0 must neither hold out 10% anyway nor fail at the first
    evaluation. The behaviour chosen: evaluation, best/ and the report
    need validation data, so 0 is an error naming --val-fraction before anything is
    written (fine-tuning with --val-data has its validation data and may accept it)."""
    if command == "train gpt":
        argv = ["train", "gpt", *GPT_TINY, "--max-iters", "2", "--data", cli_runs.text, "--out", "ft"]
    elif command == "train bert":
        argv = ["train", "bert", *BERT_TINY, "--max-iters", "2", "--data", cli_runs.docs, "--out", "ft"]
    else:
        argv = _finetune(cli_runs, cli_runs.bert)
    error_line(minitx(*argv, "--val-fraction", "0", cwd=tmp_path), "--val-fraction", usage=True)
    assert not (tmp_path / "ft").exists()


@pytest.mark.parametrize("task, max_length", [("tag", 1), ("qa", 2)])
def test_a_max_length_too_short_for_the_task_is_refused_up_front(cli_runs, tmp_path, task, max_length):
    """`--task tag --max-length 1` (which would train with loss 0) and `--task qa
    --max-length 2` (too short for a question and a context) are refused up front,
    naming --max-length, not late with a message about max_position_embeddings."""
    if task == "tag":
        rows = [{"tokens": ["the", w, "sat"], "tags": ["O", "B-X", "O"]} for w in ("cat", "dog", "mat", "sun")]
    else:
        rows = [{"question": f"what {w} ?", "context": f"the cat sat on {w} .", "answer": w}
                for w in ("mat", "dog", "park", "sun")]
    data = write_jsonl(tmp_path / f"{task}.jsonl", rows)
    done = minitx(*_finetune(cli_runs, cli_runs.bert, "--max-length", max_length, data=data, task=task),
                  cwd=tmp_path)
    line = error_line(done, "--max-length", usage=True)
    assert "max_position_embeddings" not in line
    assert not (tmp_path / "ft").exists()


def test_a_qa_answer_ending_mid_word_is_refused(cli_runs, tmp_path):
    """An answer that ends inside a word ("cat" in "cats") is refused: docs/bert.md
    says answers begin and end on word boundaries."""
    from minitx.tokenizers import WordPieceTokenizer
    tokenizer = WordPieceTokenizer.load(str(cli_runs.hf / "tokenizer.json"))
    assert tokenizer.tokenize("cats") == ["cat", "##s"]  # "cat" is whole pieces, but not a whole word
    rows = [{"question": f"what {w} ?", "context": f"the cat sat on {w} .", "answer": w} for w in ("mat", "dog")]
    rows.insert(1, {"question": "what sat ?", "context": "the cats sat on a mat .", "answer": "cat"})
    data = write_jsonl(tmp_path / "qa.jsonl", rows)
    error_line(minitx(*_finetune(cli_runs, cli_runs.bert, data=data, task="qa"), cwd=tmp_path), "qa.jsonl:2")
    assert not (tmp_path / "ft").exists()


@pytest.mark.parametrize("tokenizer_json, text", [
    (True, "{not json"),
    (False, "{not json"),
    (False, "[1, 2]"),
    (False, '{"do_lower_case": "no"}'),
], ids=["beside tokenizer.json", "not JSON", "an array", "do_lower_case a string"])
def test_a_malformed_tokenizer_config_is_an_error_naming_it(cli_runs, tmp_path, tokenizer_json, text):
    """A malformed tokenizer_config.json is an error naming the file, not ignored."""
    hf = copy(cli_runs.hf, tmp_path / "hf") if tokenizer_json else _vocab_only(cli_runs, tmp_path / "hf")
    (hf / "tokenizer_config.json").write_text(text)
    error_line(minitx("embed", "--model", "hf", "the cat", cwd=tmp_path), os.path.join("hf", "tokenizer_config.json"))


# ---- messages that did not say what was wrong ---------------------------------------------

@pytest.mark.parametrize("command", ["gpt", "bert"])
def test_an_empty_data_file_is_named_as_empty(cli_runs, tmp_path, command):
    """An empty --data file is reported as empty, not as "vocab_size must be positive"."""
    (tmp_path / "blank.txt").write_text("")
    tiny = GPT_TINY if command == "gpt" else BERT_TINY
    done = minitx("train", command, *tiny, "--max-iters", "2", "--data", "blank.txt", "--out", "ft", cwd=tmp_path)
    error_line(done, "blank.txt", "empty")
    assert not (tmp_path / "ft").exists()


@pytest.mark.parametrize("command", ["train gpt", "train bert", "finetune bert"])
def test_data_that_is_a_folder_is_named_as_a_folder(cli_runs, tmp_path, command):
    """`--data FOLDER` says it is a folder, not "no such file"."""
    (tmp_path / "corpus").mkdir()
    if command.startswith("train"):
        argv = ["train", command.split()[1], "--max-iters", "2", "--data", "corpus", "--out", "ft"]
    else:
        argv = _finetune(cli_runs, cli_runs.bert, data="corpus")
    line = error_line(minitx(*argv, cwd=tmp_path), "corpus")
    assert ("folder" in line or "directory" in line) and "no such file" not in line, line
    assert not (tmp_path / "ft").exists()


def test_a_negative_sample_seed_is_refused_up_front(tmp_path):
    """`sample --seed -5` is refused before the checkpoint is looked at."""
    done = minitx("sample", "--ckpt", "missing", "--seed", "-5", cwd=tmp_path)
    error_line(done, "--seed", usage=True)


def test_a_jsonl_file_that_is_not_utf8_is_named(cli_runs, tmp_path):
    """A latin-1 JSONL file is an error naming the file, not the codec's message alone."""
    (tmp_path / "latin1.jsonl").write_bytes('{"text": "caf\u00e9", "label": "a"}\n'.encode("latin-1"))
    error_line(minitx(*_finetune(cli_runs, cli_runs.bert, data="latin1.jsonl"), cwd=tmp_path), "latin1.jsonl")
    assert not (tmp_path / "ft").exists()


def test_a_label_only_in_the_held_out_split_is_named(cli_runs, tmp_path):
    """When the automatic split would hold out every example of a label, the error names
    the label."""
    from minitx.data.finetune import read_jsonl, split_examples
    data = write_jsonl(tmp_path / "two.jsonl", [{"text": "the cat sat", "label": "a"},
                                                {"text": "the dog ran", "label": "b"}])
    _, (held,) = split_examples(read_jsonl(str(data), "classify"), 0.1, seed=1337)  # --seed's default
    line = error_line(minitx(*_finetune(cli_runs, cli_runs.bert, data=data), cwd=tmp_path), f"'{held['label']}'")
    assert "held" in line or "validation" in line, line
    assert not (tmp_path / "ft").exists()
