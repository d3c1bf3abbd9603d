"""Pipelines on minitx's own models: checkpoints and exported Hugging Face folders,
the one-or-many calling convention, notes on truncation, and the errors a user
meets (a missing head, an empty input, no [MASK], a question with no context).
`minitx predict` on texts and on JSONL files. Parity with transformers is in
test_pipelines_parity.py."""
import json

import numpy as np
import pytest

from minitx import manual_seed, pipeline
from minitx.cli import main
from minitx.models import bert
from minitx.models.bert import export_hf
from minitx.models.gpt import GPT, GPTConfig
from minitx.tokenizers import CharTokenizer, WordPieceTokenizer
from minitx.training.checkpoint import save_checkpoint

TEXT = "The cat sat on the mat. A dog ate the rat!"
TAGS = ["O", "B-ANIMAL", "I-ANIMAL"]


@pytest.fixture(scope="module")
def tok():
    return WordPieceTokenizer.train([TEXT, "the mat of the cat and the rat"] * 2, 120, min_frequency=1)


def bert_config(tok, **kw):
    return bert.BertConfig(vocab_size=tok.vocab_size, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                           intermediate_size=32, max_position_embeddings=24, **kw)


def checkpoint(path, model_type, model, tok):
    return save_checkpoint(path, model, {"model_type": model_type, "model": model.config.to_dict()}, tokenizer=tok)


@pytest.fixture(scope="module")
def folders(tmp_path_factory, tok):
    """{name: folder}: minitx checkpoints of each BERT head and a GPT, and a Hugging
    Face folder of a bare BertModel."""
    manual_seed(0)
    root = tmp_path_factory.mktemp("models")
    labels = {"num_labels": 3, "id2label": dict(enumerate(TAGS))}
    made = {
        "bert": checkpoint(root / "bert", "bert", bert.BertForPreTraining(bert_config(tok)), tok),
        "classify": checkpoint(root / "classify", "bert-classify",
                               bert.BertForSequenceClassification(bert_config(
                                   tok, num_labels=2, id2label={0: "neg", 1: "pos"})), tok),
        "tag": checkpoint(root / "tag", "bert-tag", bert.BertForTokenClassification(bert_config(tok, **labels)), tok),
        "qa": checkpoint(root / "qa", "bert-qa", bert.BertForQuestionAnswering(bert_config(tok)), tok),
    }
    export_hf(bert.BertModel(bert_config(tok)), tok, root / "bare")
    made["bare"] = root / "bare"
    chars = CharTokenizer.train(TEXT + "\n")
    gpt = GPT(GPTConfig(vocab_size=chars.vocab_size, block_size=16, n_layer=1, n_head=2, n_embd=16))
    made["gpt"] = save_checkpoint(root / "gpt", gpt, {"model_type": "gpt", "model": gpt.config.to_dict()},
                                  tokenizer=chars)
    return {k: str(v) for k, v in made.items()}


def test_one_input_and_a_list(folders):
    fill = pipeline("fill-mask", model=folders["bert"])
    one = fill("the [MASK] sat")
    assert len(one) == 5 and set(one[0]) == {"score", "token", "token_str", "sequence"}
    assert [r["score"] for r in one] == sorted((r["score"] for r in one), reverse=True)
    assert fill(["the [MASK] sat", "a [MASK] ate"], top_k=2)[0] == one[:2]
    assert len(fill("[MASK] sat on [MASK]")) == 2  # one list per mask
    assert fill([]) == []
    classify = pipeline("sentiment-analysis", model=folders["classify"])
    [best] = classify(TEXT)
    assert best["label"] in ("neg", "pos")
    every = classify(TEXT, top_k=None)
    assert sorted(d["label"] for d in every) == ["neg", "pos"] and abs(sum(d["score"] for d in every) - 1) < 1e-6
    batched = classify([TEXT, "the cat"])[0]  # padding changes float32 rounding only
    assert batched["label"] == best["label"] and batched["score"] == pytest.approx(best["score"], abs=1e-6)


def test_token_classification_offsets_point_into_the_text(folders):
    ner = pipeline("ner", model=folders["tag"])
    for strategy in ("none", "simple", "first", "average", "max"):
        for e in ner(TEXT, aggregation_strategy=strategy, ignore_labels=()):
            piece = TEXT[e["start"]:e["end"]]
            assert e["word"].replace("##", "") == piece.lower() or strategy != "none"
            assert e["word"].replace(" ", "") == piece.lower().replace(" ", "")


def test_question_answering_answers_are_slices_of_the_context(folders):
    qa = pipeline("question-answering", model=folders["qa"])
    context = TEXT * 6  # past max_position_embeddings: read in windows
    answers = qa(question="who sat?", context=context, top_k=3, doc_stride=4)
    assert len(answers) == 3 and qa.notes[0]["windows"] > 1
    for a in answers:
        assert a["answer"] == context[a["start"]:a["end"]] and a["answer"]
    single = qa({"question": "who sat?", "context": TEXT})
    assert set(single) == {"score", "start", "end", "answer"}
    assert qa([{"question": "who sat?", "context": TEXT}] * 2) == [single, single]
    every = qa(question="who sat?", context=TEXT, top_k=10_000, handle_impossible_answer=True)
    assert [a for a in every if a["answer"] == ""] == [{"score": pytest.approx(every[-1]["score"], abs=1),
                                                        "start": 0, "end": 0, "answer": ""}]


def test_feature_extraction_and_truncation_notes(folders):
    embed = pipeline("feature-extraction", model=folders["bare"])
    tokens = np.array(embed("the cat"))
    assert tokens.shape == (1, 4, 16)  # [CLS] the cat [SEP]
    np.testing.assert_allclose(embed("the cat", pooling="mean"), tokens[0].mean(0), atol=1e-6)
    with pytest.warns(UserWarning, match="input 1 is longer than the model's 24 tokens and was truncated"):
        vectors = embed(["the cat", TEXT * 3], pooling="cls", normalize=True, return_tensors=True)
    assert embed.notes == [{}, {"truncated": True}]
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-6)


def test_text_generation_is_seeded_and_batched(folders):
    gen = pipeline("text-generation", model=folders["gpt"])
    [out] = gen("the cat", max_new_tokens=5, seed=3)
    assert out["generated_text"].startswith("the cat") and len(out["generated_text"]) == 12
    assert gen(["the cat", "a dog"], max_new_tokens=5, seed=3)[0] == [out]
    [new] = gen("the cat", max_new_tokens=5, seed=3, return_full_text=False)
    assert new["generated_text"] == out["generated_text"][7:]


def test_text_generation_batch_equals_each_prompt_alone(folders):
    gen = pipeline("text-generation", model=folders["gpt"])
    prompts = ["the cat sat", "a", "dogs"]
    for options in (dict(do_sample=False), dict(seed=4)):
        batch = gen(prompts, max_new_tokens=5, **options)
        assert batch == [gen(p, max_new_tokens=5, **options) for p in prompts]
    # past block_size (16) rows would slide together, so each runs alone and slides as it would
    long = gen(prompts, max_new_tokens=20, do_sample=False)
    assert long == [gen(p, max_new_tokens=20, do_sample=False) for p in prompts]
    assert all(len(out["generated_text"]) == len(p) + 20 for [out], p in zip(long, prompts))


@pytest.mark.parametrize("task, model, call, message", [
    ("text-classification", "bert", lambda p: p, "a bert checkpoint has no head for text-classification"),
    ("fill-mask", "classify", lambda p: p, "a bert-classify checkpoint has no head for fill-mask"),
    ("token-classification", "bare", lambda p: p, "has no BertForTokenClassification head"),
    ("text-generation", "bert", lambda p: p, "text-generation needs a GPT"),
    ("text-classification", "classify", lambda p: p(["fine", "  "]), "input 1 is empty"),
    ("fill-mask", "bert", lambda p: p("no mask here"), "input 0 has no \\[MASK\\] token"),
    ("question-answering", "qa", lambda p: p(question="who?", context=""), "input 0 has no context"),
    ("question-answering", "qa", lambda p: p(question="who?"), "input 0 has no context"),
    ("token-classification", "tag", lambda p: p("a", aggregation_strategy="best"), "aggregation_strategy"),
    ("translation", "bert", lambda p: p, "unknown task 'translation'"),
])
def test_errors_are_one_clear_line(folders, task, model, call, message):
    with pytest.raises(ValueError, match=message):
        call(pipeline(task, model=folders[model]))


def test_predict_command_texts_file_and_out(folders, tmp_path, capsys):
    assert main(["predict", "text-classification", "--model", folders["classify"], TEXT, "the cat"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["text"] for r in lines] == [TEXT, "the cat"]
    alone = pipeline("text-classification", model=folders["classify"])([TEXT])[0]
    assert lines[0]["result"] == {"label": alone["label"], "score": pytest.approx(alone["score"], abs=1e-6)}
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps({"question": q, "context": TEXT * 6, "id": i}) + "\n"
                           for i, q in enumerate(["who sat?", "what ate?"])))
    out = tmp_path / "out.jsonl"
    assert main(["predict", "question-answering", "--model", folders["qa"], "--file", str(src), "--out", str(out),
                 "--doc-stride", "4", "--no-progress"]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in rows] == [0, 1] and all(r["windows"] > 1 for r in rows)
    assert all(r["result"]["answer"] == r["context"][r["result"]["start"]:r["result"]["end"]] for r in rows)


@pytest.mark.parametrize("lines, argv, message", [
    (['{"text": "a"}', "{oops"], [], "in.jsonl:2: not valid JSON"),
    (['{"txt": "a"}'], [], "in.jsonl:1: no 'text' string"),
    (['{"text": "fine"}', '{"text": ""}'], [], "input 2 is empty"),
])
def test_predict_command_errors(folders, tmp_path, capsys, lines, argv, message):
    src = tmp_path / "in.jsonl"
    src.write_text("\n".join(lines) + "\n")
    assert main(["predict", "ner", "--model", folders["tag"], "--file", str(src), "--no-progress", *argv]) == 1
    assert message in capsys.readouterr().err


def test_predict_tasks_and_options_come_from_the_pipelines(capsys):
    """The command line is made from the pipelines' declarations: every task, and every
    option of every pipeline; a flag two tasks share means the same kind of value."""
    from minitx.cli.predict import _task_options
    from minitx.pipelines import TASKS
    with pytest.raises(SystemExit):
        main(["predict", "--help"])
    usage = capsys.readouterr().out
    for task, cls in TASKS.items():
        assert task in usage
        for option in cls.cli_options:
            assert option.flag in usage, (task, option.flag)
    for flag, uses in _task_options().items():
        assert len({(o.kind, o.choices) for _, o in uses}) == 1, flag


@pytest.mark.parametrize("argv", [["no-such-task", "--model", "m", "a"], ["no-such-task"]])
def test_predict_unknown_task_is_one_line_exit_2(capsys, argv):
    with pytest.raises(SystemExit) as e:
        main(["predict", *argv])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown task 'no-such-task'" in err[0] and "zero-shot-classification" in err[0]


def test_predict_an_option_of_another_task_is_one_line(folders, capsys):
    assert main(["predict", "fill-mask", "--model", folders["bert"], "--pooling", "cls", "a [MASK]"]) == 1
    assert "--pooling: not an option of fill-mask (its options: --top-k, --targets)" in capsys.readouterr().err


def test_predict_greedy_generation_equals_the_pipeline(folders, capsys):
    assert main(["predict", "text-generation", "--model", folders["gpt"], "--greedy", "--max-new-tokens", "6",
                 "The cat"]) == 0
    row = json.loads(capsys.readouterr().out)
    want = pipeline("text-generation", model=folders["gpt"])("The cat", max_new_tokens=6, do_sample=False)
    assert row["result"] == want


def test_predict_command_question_needs_context(folders, capsys):
    assert main(["predict", "question-answering", "--model", folders["qa"], "who?"]) == 1
    assert "--context is needed" in capsys.readouterr().err


def test_multi_label_finetune_then_sigmoid_scores(tmp_path, tok, capsys):
    """finetune bert --multi-label trains one sigmoid per label; the checkpoint and the
    exported folder both tell the pipeline to score with sigmoids (they need not sum to 1)."""
    manual_seed(0)
    export_hf(bert.BertForPreTraining(bert_config(tok)), tok, tmp_path / "init")
    rows = [{"text": f"the {w} sat", "labels": labels} for w, labels in
            [("cat", ["animal"]), ("dog", ["animal", "loud"]), ("mat", []), ("rat", ["animal", "small"])] * 3]
    data = tmp_path / "d.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "ft"
    assert main(["finetune", "bert", "--task", "classify", "--multi-label", "--data", str(data), "--init",
                 str(tmp_path / "init"), "--out", str(out), "--max-iters", "2", "--batch-size", "4",
                 "--eval-interval", "2", "--val-fraction", "0.25", "--no-progress"]) == 0
    evals = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert {"accuracy", "f1"} <= set(evals[-1])
    assert json.loads((out / "hf" / "config.json").read_text())["problem_type"] == "multi_label_classification"
    best = json.loads((out / "best" / "config.json").read_text())
    assert best["model"]["problem_type"] == "multi_label_classification" and "problem_type" not in best
    assert bert.BertForSequenceClassification.from_pretrained(out / "hf").config.problem_type == "multi_label_classification"
    for model in (out, out / "hf"):
        scores = pipeline("text-classification", model=str(model))("the cat sat", top_k=None)
        assert sorted(s["label"] for s in scores) == ["animal", "loud", "small"]
        p = np.array([s["score"] for s in scores])
        assert ((0 < p) & (p < 1)).all() and abs(p.sum() - 1) > 1e-3


def test_a_checkpoint_from_before_problem_type_was_in_the_model_config(tmp_path, tok):
    """Older checkpoints named problem_type beside the model section: still multi-label."""
    manual_seed(0)
    model = bert.BertForSequenceClassification(bert_config(tok, num_labels=2, id2label={0: "a", 1: "b"}))
    section = {k: v for k, v in model.config.to_dict().items() if k != "problem_type"}
    save_checkpoint(tmp_path / "old", model, {"model_type": "bert-classify", "model": section,
                                              "problem_type": "multi_label_classification"}, tokenizer=tok)
    classify = pipeline("text-classification", model=str(tmp_path / "old"))
    assert classify.model.config.problem_type == "multi_label_classification"
    scores = np.array([s["score"] for s in classify("the cat", top_k=None)])
    assert abs(scores.sum() - 1) > 1e-3  # sigmoids


def test_multi_label_needs_classify_and_label_lists(tmp_path, capsys):
    data = tmp_path / "d.jsonl"
    data.write_text('{"text": "a", "label": "x"}\n')
    assert main(["finetune", "bert", "--task", "tag", "--multi-label", "--data", str(data), "--init", "x"]) == 1
    assert "--multi-label is for --task classify" in capsys.readouterr().err
    from minitx.data.finetune import read_jsonl
    with pytest.raises(ValueError, match="d.jsonl:1: missing field 'labels' \\(a multi-label classify line"):
        read_jsonl(data, "classify", multi_label=True)
