"""BERT training glue: the pretraining loss, fine-tuning data and metrics, and the
`minitx train bert`, `finetune bert` and `embed` commands end to end."""
import json

import numpy as np
import pytest

import minitx
from minitx.backend import use_backend
from minitx.cli import main
from minitx.data.bert import PretrainingData
from minitx.data.finetune import (
    FinetuneData,
    encode,
    label_vocab,
    read_jsonl,
    split_examples,
)
from minitx.models.bert import BertConfig, BertForPreTraining
from minitx.tokenizers import WordPieceTokenizer
from minitx.training.metrics import best_span, pretraining_loss, tag_metrics

WORDS = ("the cat sat on a mat while rain fell over paris and london . dogs ran far "
         "because summer came early , then winter stayed long in berlin").split()


@pytest.fixture(autouse=True)
def numpy_backend():
    # the machinery is tested here, the kernels on their own: the NumPy twins need no
    # compiling and no thread pool, which keeps these fast on a busy machine
    with use_backend("numpy"):
        yield


@pytest.fixture(scope="module")
def tokenizer():
    return WordPieceTokenizer.train([" ".join(WORDS)] * 3, vocab_size=200, min_frequency=1)


def documents(n=20, seed=0):
    rng = np.random.default_rng(seed)
    return [[" ".join(rng.choice(WORDS, size=rng.integers(3, 9))) for _ in range(rng.integers(2, 5))]
            for _ in range(n)]


def test_pretraining_loss_equals_the_models_loss(tokenizer):
    """Running the MLM head at the masked positions only gives BertForPreTraining's loss
    and gradients."""
    data = PretrainingData(documents(), tokenizer, max_length=24, val_every=5)
    batch = data.get_batch(3)
    minitx.manual_seed(0)
    model = BertForPreTraining(BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=8, num_hidden_layers=1,
                                          num_attention_heads=2, intermediate_size=8, max_position_embeddings=24,
                                          hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)).double()
    ours = pretraining_loss(model, batch)
    ours.backward()
    grads = {n: p.grad.copy() for n, p in model.named_parameters()}
    model.zero_grad()
    ref = model(**batch).loss
    ref.backward()
    np.testing.assert_allclose(ours.item(), ref.item(), rtol=1e-12)
    for n, p in model.named_parameters():
        np.testing.assert_allclose(grads[n], p.grad, atol=1e-12, err_msg=n)


def test_pretraining_data_holds_out_whole_documents(tokenizer):
    docs = documents(20)
    data = PretrainingData(docs, tokenizer, max_length=24, val_every=5)
    assert len(data.splits["val"].documents) == 4 and len(data.splits["train"].documents) == 16
    a, b = data.eval_batches(4, 2), data.eval_batches(4, 2)
    for x, y in zip(a, b):  # the same validation batches every time
        for k in x:
            np.testing.assert_array_equal(x[k], y[k])


def write_jsonl(path, rows):
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n")
    return str(path)


@pytest.mark.parametrize("task, line, message", [
    ("classify", '{"text": "a", "label": "x"', "2: not valid JSON"),
    ("classify", '{"text": "a"}', "2: missing field 'label'"),
    ("classify", '{"text": 3, "label": "x"}', "2: field 'text' is int, expected str"),
    ("classify", '["text"]', "2: expected a JSON object, got list"),
    ("tag", '{"tokens": ["a", "b"], "tags": ["O"]}', "2: 2 tokens but 1 tags"),
    ("qa", '{"question": "q", "context": "abc", "answer": "x"}', "2: the answer 'x' is not in the context"),
    ("qa", '{"question": "q", "context": "abc", "answer": "b", "answer_start": 0}',
     "2: the answer 'b' is not in the context at answer_start 0"),
])
def test_malformed_lines_are_named(tmp_path, task, line, message):
    good = {"classify": {"text": "a", "label": 1}, "tag": {"tokens": ["a"], "tags": ["O"]},
            "qa": {"question": "q", "context": "abc", "answer": "abc"}}[task]
    path = write_jsonl(tmp_path / "d.jsonl", [good, line])
    with pytest.raises(ValueError, match=f"d.jsonl:{message.replace('(', '.').replace(')', '.')}"):
        read_jsonl(path, task)


def test_tagging_labels_go_on_first_pieces(tokenizer):
    ex = [{"tokens": ["the", "catsat", "paris"], "tags": ["O", "B-X", "B-LOC"], "line": "t:1"}]
    tags = label_vocab(ex, "tag")
    f = encode(ex, "tag", tokenizer, 16, tags)
    ids, labels = f.inputs["input_ids"][0], f.inputs["labels"][0]
    pieces = tokenizer.tokenize("catsat")
    assert len(pieces) > 1
    expected = [-100, tags.index("O"), tags.index("B-X")] + [-100] * (len(pieces) - 1) + [tags.index("B-LOC"), -100]
    assert labels.tolist() == expected
    assert ids[0] == tokenizer.cls_id and ids[len(expected) - 1] == tokenizer.sep_id


def test_qa_positions_point_at_the_answer(tokenizer):
    ex = [{"question": "where did rain fall ?", "context": "the cat sat . rain fell over paris and london .",
           "answer": "paris and london", "answer_start": 29, "line": "q:1"}]
    f = encode(ex, "qa", tokenizer, 32)
    s, e = f.inputs["start_positions"][0], f.inputs["end_positions"][0]
    assert tokenizer.decode(f.inputs["input_ids"][0, s:e + 1].tolist()) == "paris and london"
    cut = encode(ex, "qa", tokenizer, 12)  # truncated before the answer: position max_length, ignored
    assert cut.inputs["start_positions"][0] == 12
    bad = [{**ex[0], "answer": "ari", "answer_start": 30}]
    with pytest.raises(ValueError, match="q:1: the answer 'ari' does not begin and end on word boundaries"):
        encode(bad, "qa", tokenizer, 32)


def test_best_span_and_token_f1():
    start, end = np.array([0, 1, 0, 9, 0.0]), np.array([0, 0, 7, 1, 2.0])
    assert best_span(start, end, 1, 5) == (3, 4)  # 9 + 2; (3, 2) scores 16 but ends before it starts
    assert best_span(start, end, 1, 3) == (1, 2)

    class Stub:  # a model that predicts the tags given
        def __call__(self, ids, mask, types):
            return type("Out", (), {"logits": minitx.tensor(np.eye(3)[ids])})
    ids = np.array([[0, 1, 2, 2, 0]])  # predictions: O, A, B, B, O
    gold = np.array([[0, 1, 1, 2, -100]])
    batch = {"input_ids": ids, "attention_mask": None, "token_type_ids": None, "labels": gold}
    m = tag_metrics(Stub(), [batch], outside=0)
    # non-O: predicted A,B,B; gold A,A,B; correct A (pos 1) and B (pos 3): P = R = 2/3
    assert m["token_f1"] == pytest.approx(2 / 3) and m["accuracy"] == pytest.approx(3 / 4)


def test_finetune_data_batches_are_trimmed_and_cover_validation(tokenizer):
    ex = [{"text": " ".join(WORDS[:n]), "label": str(n % 2), "line": f"x:{n}"} for n in range(1, 11)]
    train, val = split_examples(ex, 0.3, seed=0)
    assert len(val) == 3 and len(train) == 7
    feats = encode(train, "classify", tokenizer, 16, ["0", "1"]), encode(val, "classify", tokenizer, 16, ["0", "1"])
    data = FinetuneData(*feats)
    batch = data.get_batch(4)
    assert batch["input_ids"].shape[1] == batch["attention_mask"].sum(1).max()
    assert sum(len(b["labels"]) for b in data.eval_batches(2)) == 3


# ---- the commands, end to end ------------------------------------------------------------

TINY = ["--hidden-size", "16", "--num-hidden-layers", "1", "--num-attention-heads", "2", "--intermediate-size",
        "16", "--batch-size", "4", "--eval-interval", "2", "--eval-iters", "1", "--no-progress"]


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    out = tmp_path_factory.mktemp("bert") / "run"
    with use_backend("numpy"):
        assert main(["train", "bert", "--out", str(out), "--max-iters", "2", "--max-length", "32",
                     "--vocab-size", "600", *TINY]) == 0
    return out


def test_train_bert_reports_held_out_accuracies(pretrained):
    records = [json.loads(line) for line in (pretrained / "metrics.jsonl").read_text().splitlines()]
    evals = [r for r in records if r["event"] == "eval"]
    assert [r["step"] for r in evals] == [0, 2]
    assert all(0 <= r["mlm_accuracy"] <= 1 and 0 <= r["nsp_accuracy"] <= 1 for r in evals)
    for name in ("config.json", "model.safetensors", "vocab.txt", "tokenizer.json"):
        assert (pretrained / "hf" / name).exists()


@pytest.mark.parametrize("task, rows, metric", [
    ("classify", [{"text": f"the cat sat {w}", "label": i % 2} for i, w in enumerate(WORDS[:12])], "macro_f1"),
    ("tag", [{"tokens": ["the", w, "sat"], "tags": ["O", "B-X", "O"]} for w in WORDS[:8]], "entity_f1"),
    ("qa", [{"question": f"what {w} ?", "context": f"the cat sat on {w} .", "answer": w} for w in WORDS[:8]],
     "exact_match"),
])
def test_finetune_each_task_from_both_kinds_of_checkpoint(pretrained, tmp_path, capsys, task, rows, metric):
    data = write_jsonl(tmp_path / "d.jsonl", rows)
    for init in (pretrained, pretrained / "hf"):
        out = tmp_path / f"ft-{init.name}"
        assert main(["finetune", "bert", "--task", task, "--data", data, "--init", str(init), "--out", str(out),
                     "--max-iters", "2", "--batch-size", "4", "--eval-interval", "2", "--max-length", "16",
                     "--val-fraction", "0.25", "--no-progress"]) == 0
        evals = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
        assert metric in evals[-1] and (out / "hf" / "config.json").exists()
    assert f"{metric.replace('_', ' ')} " in capsys.readouterr().out


def test_finetune_names_a_malformed_line(pretrained, tmp_path, capsys):
    data = write_jsonl(tmp_path / "d.jsonl", [{"text": "a", "label": 0}, '{"text": "b", "label": 1,}'])
    assert main(["finetune", "bert", "--task", "classify", "--data", data, "--init", str(pretrained),
                 "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err.strip()
    assert "d.jsonl:2: not valid JSON" in err and len(err.splitlines()) == 1


def test_embed_prints_or_saves_mean_pooled_vectors(pretrained, tmp_path, capsys):
    from minitx.cli.bert import embed_texts, load_bert
    from minitx.models.bert import BertModel
    texts = ["the cat sat on a mat", "rain fell over paris"]
    assert main(["embed", "--model", str(pretrained / "hf"), *texts]) == 0
    printed = np.loadtxt(capsys.readouterr().out.splitlines())
    assert printed.shape == (2, 16)
    npy = tmp_path / "e.npy"
    assert main(["embed", "--model", str(pretrained), "--out", str(npy), "--normalize", *texts]) == 0
    saved = np.load(npy)
    np.testing.assert_allclose(np.linalg.norm(saved, axis=1), 1, rtol=1e-5)
    np.testing.assert_allclose(saved, printed / np.linalg.norm(printed, axis=1, keepdims=True), atol=1e-4)
    # one text alone gives the same vector as in a padded batch
    alone = embed_texts(*load_bert(str(pretrained / "hf"), BertModel), texts[1:])
    np.testing.assert_allclose(alone[0], printed[1], rtol=1e-4, atol=1e-5)


def test_checkpoints_rebuild_with_build_model(pretrained):
    from minitx.models.bert import BertForPreTraining
    from minitx.training.checkpoint import build_model, find_checkpoint, load_checkpoint
    ckpt = load_checkpoint(find_checkpoint(str(pretrained)))
    model = build_model(ckpt)
    assert isinstance(model, BertForPreTraining)
    again = BertForPreTraining.from_pretrained(str(pretrained / "hf"))
    for (n, a), (m, b) in zip(model.state_dict().items(), again.state_dict().items()):
        assert n == m and np.array_equal(a, b), n


def test_pretraining_resumes_exactly(tmp_path, tokenizer):
    """4 steps, or 2 steps, stop, resume, 2 more: the same weights bit for bit (the pair
    sampler's and the masking's generators are in the checkpoint, dropout's too)."""
    from minitx.training import Trainer
    from minitx.training.metrics import pretraining_metrics
    from minitx.training.trainer import TrainConfig

    def trainer(out):
        minitx.manual_seed(0)
        model = BertForPreTraining(BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=8, num_hidden_layers=1,
                                              num_attention_heads=2, intermediate_size=8,
                                              max_position_embeddings=24))
        data = PretrainingData(documents(), tokenizer, max_length=24, val_every=5, seed=3)
        return Trainer(model, data, TrainConfig(max_iters=4, batch_size=3, eval_interval=2, eval_iters=1),
                       str(out), {"model_type": "bert", "model": model.config.to_dict()},
                       tokenizer=tokenizer, compute_loss=pretraining_loss, metrics=pretraining_metrics,
                       progress=False)
    whole = trainer(tmp_path / "a")
    whole.fit()
    first = trainer(tmp_path / "b")
    first.fit(until=2)
    second = trainer(tmp_path / "b")
    second.resume()
    second.fit()
    assert set(whole.last_metrics) == {"val_loss", "mlm_accuracy", "nsp_accuracy", "mlm_perplexity"}
    for (n, a), (_, b) in zip(whole.model.state_dict().items(), second.model.state_dict().items()):
        assert np.array_equal(a, b), n


@pytest.mark.parametrize("argv, message", [
    (["train", "bert", "--hidden-size", "10", "--num-attention-heads", "3"],
     "--hidden-size 10 is not divisible by --num-attention-heads 3"),
    (["train", "bert", "--data", "/nonexistent.txt"], "--data /nonexistent.txt: no such file"),
    (["finetune", "bert", "--task", "tag", "--data", "/nonexistent.jsonl", "--init", "x"],
     "--data /nonexistent.jsonl: no such file"),
    (["embed", "--model", "/nonexistent", "hello"], "/nonexistent"),
    (["embed", "--model", "x", "--out", "e.txt", "hello"], "--out e.txt: must end in .npy"),
])
def test_bad_bert_commands_are_one_line(capsys, tmp_path, argv, message):
    argv = [a if a != "x" else str(tmp_path) for a in argv]
    assert main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err and message in err, err


def test_finetune_bert_needs_its_arguments(capsys):
    with pytest.raises(SystemExit) as e:
        main(["finetune", "bert", "--task", "classify", "--init", "x"])
    assert e.value.code == 2 and "--data" in capsys.readouterr().err
