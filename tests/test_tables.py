"""Examples from JSONL, CSV, TSV and Parquet files and from Python rows: the same
examples read alike and fine-tune the same model; a bad row is one line naming the
file, the line (or row) and the column, and nothing is written."""
import csv
import importlib.util
import json
from collections.abc import Mapping

import numpy as np
import pytest

from minitx.data.finetune import read_examples
from minitx.data.tables import read_rows, table_format
from tests.cli_harness import error_line, minitx

CLASSIFY = [{"text": f"the {w} was {'great' if i % 2 else 'awful'}", "label": "pos" if i % 2 else "neg"}
            for i, w in enumerate("film song book play show meal trip game talk view".split())]
TAG = [{"tokens": ["Ada", "lives", "in", "London"], "tags": ["B-PER", "O", "O", "B-LOC"]},
       {"tokens": ["Bob", "likes", "Paris"], "tags": ["B-PER", "O", "B-LOC"]}]
QA = [{"question": "Where does Ada live?", "context": "Ada lives in London.", "answer": "London",
       "answer_start": 13}, {"question": "Who lives there?", "context": "Ada lives in London.", "answer": "Ada"}]


def write(path, rows, lists=()):
    """`rows` as the file its suffix names; list fields (`lists`) as CSV/TSV cells hold them: JSON arrays."""
    suffix = path.suffix
    if suffix == ".jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    elif suffix in (".csv", ".tsv"):
        names = list(dict.fromkeys(k for r in rows for k in r))
        with open(path, "w", newline="", encoding="utf-8") as f:
            out = csv.writer(f, delimiter="," if suffix == ".csv" else "\t")
            out.writerow(names)
            for r in rows:
                out.writerow([json.dumps(r[k]) if k in lists else r.get(k, "") for k in names])
    else:
        pa = pytest.importorskip("pyarrow")
        import pyarrow.parquet as pq
        pq.write_table(pa.Table.from_pylist(rows), path)
    return path


class Rows:
    """Neither a list nor a datasets.Dataset: only iterable, of read-only mappings."""

    def __init__(self, rows):
        self.rows = rows

    def __iter__(self):
        return (_ReadOnly(r) for r in self.rows)


class _ReadOnly(Mapping):
    def __init__(self, row):
        self.row = row

    def __getitem__(self, key):
        return self.row[key]

    def __iter__(self):
        return iter(self.row)

    def __len__(self):
        return len(self.row)


def _without_line(examples):
    return [{k: v for k, v in ex.items() if k != "line"} for ex in examples]


@pytest.mark.parametrize("task, rows, lists", [("classify", CLASSIFY, ()), ("tag", TAG, ("tokens", "tags")),
                                               ("qa", QA, ())])
@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".tsv"])
def test_every_format_reads_the_same_examples(tmp_path, task, rows, lists, suffix):
    want = _without_line(read_examples(rows, task))
    got = read_examples(str(write(tmp_path / f"d{suffix}", rows, lists)), task)
    assert _without_line(got) == want
    assert got[0]["line"] == f"{tmp_path / f'd{suffix}'}:{2 if suffix != '.jsonl' else 1}"


def test_parquet_reads_the_same_examples(tmp_path):
    for task, rows in [("classify", CLASSIFY), ("tag", TAG), ("qa", QA)]:
        got = read_examples(str(write(tmp_path / f"{task}.parquet", rows)), task)
        assert _without_line(got) == _without_line(read_examples(rows, task)), task
        assert got[1]["line"] == f"{tmp_path / f'{task}.parquet'}: row 2"


def test_parquet_without_pyarrow_names_the_extra(tmp_path, monkeypatch):
    import sys
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # import pyarrow now fails, as when it is not installed
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    (tmp_path / "d.parquet").write_bytes(b"PAR1")
    with pytest.raises(ValueError, match=r"d\.parquet: reading Parquet needs pyarrow: pip install 'minitx\[parquet\]'"):
        read_rows(str(tmp_path / "d.parquet"))


def test_columns_are_renamed_to_fields_and_list_cells_split_on_spaces(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text('words,ner\nAda lives,B-PER O\n"[""New York"", ""is""]","[""B-LOC"", ""O""]"\n')
    got = read_examples(str(path), "tag", columns={"tokens": "words", "tags": "ner"})
    assert _without_line(got) == [{"tokens": ["Ada", "lives"], "tags": ["B-PER", "O"]},
                                  {"tokens": ["New York", "is"], "tags": ["B-LOC", "O"]}]
    path = tmp_path / "m.tsv"
    path.write_text("sentence\ttopics\nrain and sun\tweather sky\n")
    got = read_examples(str(path), "classify", multi_label=True, columns={"text": "sentence", "labels": "topics"})
    assert _without_line(got) == [{"text": "rain and sun", "labels": ["sky", "weather"]}]


def test_a_quoted_cell_over_two_lines_names_the_line_its_row_begins_on(tmp_path):
    (tmp_path / "d.csv").write_text('text,label\n"two\nlines",a\n\nthird,b\n')
    got = read_examples(str(tmp_path / "d.csv"), "classify")
    assert [ex["line"] for ex in got] == [f"{tmp_path / 'd.csv'}:2", f"{tmp_path / 'd.csv'}:5"]
    assert got[0]["text"] == "two\nlines"


def test_optional_columns_may_be_empty(tmp_path):
    path = tmp_path / "q.csv"
    path.write_text("question,context,answer,answer_start\nwho?,Ada lives,Ada,\nwho?,Ada and Ada,Ada,8\n")
    got = _without_line(read_examples(str(path), "qa"))
    assert "answer_start" not in got[0] and got[1]["answer_start"] == 8


@pytest.mark.parametrize("content, message", [
    ("text,label\nok,a\nonly one\n", ":3: 1 cell, but the header has 2 columns (text, label)"),
    ("text,sentiment\nok,a\n", ":2: missing column 'label' (a classify row needs text, label; "
                               "the columns are text, sentiment)"),
    ("text,text\nok,a\n", ":1: the header names column 'text' twice"),
    ('text,label\nok,a\n"open,a\n', ":3: not valid CSV (unexpected end of data)"),
])
def test_a_bad_csv_row_names_the_line_and_column(tmp_path, content, message):
    (tmp_path / "d.csv").write_text(content)
    with pytest.raises(ValueError) as e:
        read_examples(str(tmp_path / "d.csv"), "classify")
    assert str(e.value) == f"{tmp_path / 'd.csv'}{message}"


@pytest.mark.parametrize("content, task, message", [
    ("tokens,tags\n[oops,O\n", "tag", "d.csv:2: column 'tokens' is not a JSON array"),
    ("question,context,answer,answer_start\nq,Ada,Ada,first\n", "qa",
     "d.csv:2: column 'answer_start' is 'first', expected an integer"),
    ("tokens,tags\nAda lives,O\n", "tag", "d.csv:2: 2 tokens but 1 tags"),
])
def test_a_bad_cell_names_the_line_and_column(tmp_path, content, task, message):
    (tmp_path / "d.csv").write_text(content)
    with pytest.raises(ValueError, match="^" + str(tmp_path / message).replace("[", r"\[").replace("(", r"\(")
                       .replace(")", r"\)")):
        read_examples(str(tmp_path / "d.csv"), task)


def test_python_rows_are_named_by_index():
    with pytest.raises(ValueError, match=r"^examples\[1\]: field 'label' is float, expected str or int$"):
        read_examples([{"text": "a", "label": "x"}, {"text": "b", "label": 0.5}], "classify")
    with pytest.raises(ValueError, match=r"^examples\[0\]: expected a mapping \(a dict\), got str$"):
        read_examples(["a text"], "classify")
    with pytest.raises(ValueError, match=r"^examples\[0\]: missing field 'sentiment' \(a classify example needs "
                                         r"text, sentiment\)$"):
        read_examples([{"text": "a", "label": "x"}], "classify", columns={"label": "sentiment"})
    with pytest.raises(TypeError, match="got dict"):
        read_examples({"text": "a", "label": "x"}, "classify")


def test_the_suffix_picks_the_format_and_the_option_overrides_it(tmp_path):
    assert [table_format(f"d{s}") for s in (".jsonl", ".json", ".CSV", ".tsv", ".parquet", ".txt")] == \
        ["jsonl", "jsonl", "csv", "tsv", "parquet", "jsonl"]
    assert table_format("d.txt", "tsv") == "tsv"
    (tmp_path / "d.txt").write_text("text\tlabel\na b\tx\n")
    assert _without_line(read_examples(str(tmp_path / "d.txt"), "classify", data_format="tsv")) == \
        [{"text": "a b", "label": "x"}]
    with pytest.raises(ValueError, match=r"d\.txt:1: not valid JSON .*; read as JSONL, as the suffix is none of"):
        read_examples(str(tmp_path / "d.txt"), "classify")


# ---- the same examples, the same model -------------------------------------------------
@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory):
    """A Hugging Face folder of a tiny untrained BERT with a WordPiece vocab of CLASSIFY's words."""
    from minitx import manual_seed
    from minitx.models.bert import BertConfig, BertForMaskedLM, export_hf
    from minitx.tokenizers import WordPieceTokenizer
    folder = tmp_path_factory.mktemp("tiny") / "bert"
    tokenizer = WordPieceTokenizer.train([r["text"] for r in CLASSIFY], 60, min_frequency=1)
    manual_seed(0)
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=16, num_hidden_layers=1,
                        num_attention_heads=2, intermediate_size=16, max_position_embeddings=16)
    export_hf(BertForMaskedLM(config), tokenizer, str(folder))
    return folder


def _finetuned(out):
    from minitx.training.checkpoint import load_checkpoint
    weights = load_checkpoint(str(out / "last")).weights
    metrics = [{k: v for k, v in json.loads(line).items() if k not in ("elapsed", "seconds", "tokens_per_sec")}
               for line in (out / "metrics.jsonl").read_text().splitlines()]
    return weights, metrics


def _sources(tmp_path):
    """The CLASSIFY examples in every form finetune takes, by name."""
    forms = {"list": list(CLASSIFY), "iterable of mappings": Rows(CLASSIFY)}
    for suffix in (".jsonl", ".csv", ".tsv"):
        forms[suffix] = str(write(tmp_path / f"d{suffix}", CLASSIFY))
    if importlib.util.find_spec("pyarrow") is not None:
        forms[".parquet"] = str(write(tmp_path / "d.parquet", CLASSIFY))
    try:
        import datasets
        forms["datasets.Dataset"] = datasets.Dataset.from_list(CLASSIFY)
    except ImportError:
        pass
    return forms


def test_every_form_of_the_same_examples_finetunes_the_same_model(tiny_bert, tmp_path, monkeypatch):
    from minitx.cli import main
    monkeypatch.setenv("MINITX_BACKEND", "numpy")
    monkeypatch.chdir(tmp_path)
    runs = {}
    for name, data in _sources(tmp_path).items():
        out = tmp_path / f"run-{len(runs)}"
        assert main(["finetune", "bert", "--task", "classify", "--init", str(tiny_bert), "--out", str(out),
                     "--no-progress"], data=data, max_iters=3, batch_size=4, eval_interval=1,
                    val_fraction=0.3) == 0, name
        runs[name] = _finetuned(out)
    (first, (weights, metrics)), *others = runs.items()
    assert len(metrics) >= 3 and "accuracy" in json.dumps(metrics)
    for name, (w, m) in others:
        assert m == metrics, (first, name)
        assert w.keys() == weights.keys() and all(np.array_equal(w[k], weights[k]) for k in w), (first, name)


def test_parquet_and_datasets_are_among_the_forms(tmp_path):
    """The test above compares Parquet and datasets.Dataset too wherever they are installed
    (`pip install .[test]`)."""
    pytest.importorskip("pyarrow")
    pytest.importorskip("datasets")
    assert {".parquet", "datasets.Dataset"} <= set(_sources(tmp_path))


# ---- the command line ------------------------------------------------------------------
def test_finetune_reads_a_csv_file_with_named_columns(tiny_bert, tmp_path):
    write(tmp_path / "reviews.csv", [{"review": r["text"], "sentiment": r["label"]} for r in CLASSIFY])
    done = minitx("finetune", "bert", "--task", "classify", "--data", "reviews.csv", "--init", tiny_bert,
                  "--text-column", "review", "--label-column", "sentiment", "--out", "ft", "--max-iters", "2",
                  "--batch-size", "4", "--eval-interval", "1", "--no-progress", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "task classify: 9 training and 1 validation examples, 2 labels" in done.stderr
    config = json.loads((tmp_path / "ft" / "last" / "config.json").read_text())
    assert sorted(config["model"]["id2label"].values()) == ["neg", "pos"]


def test_a_bad_csv_row_is_one_line_and_nothing_is_written(tiny_bert, tmp_path):
    rows = [{"text": r["text"], "label": r["label"]} for r in CLASSIFY]
    write(tmp_path / "d.csv", rows)
    lines = (tmp_path / "d.csv").read_text().splitlines()
    lines[4] = lines[4].split(",")[0]  # the row of line 5 loses its label cell
    (tmp_path / "d.csv").write_text("\n".join(lines) + "\n")
    done = minitx("finetune", "bert", "--task", "classify", "--data", "d.csv", "--init", tiny_bert, "--out", "ft",
                  "--no-progress", cwd=tmp_path)
    error_line(done, "d.csv:5: 1 cell, but the header has 2 columns (text, label)")
    write(tmp_path / "good.csv", rows)
    done = minitx("finetune", "bert", "--task", "classify", "--data", "good.csv", "--init", tiny_bert, "--out", "ft",
                  "--label-column", "sentiment", "--no-progress", cwd=tmp_path)
    error_line(done, "good.csv:2: missing column 'sentiment' (a classify row needs text, sentiment; "
                     "the columns are text, label)")
    assert not (tmp_path / "ft").exists()


def test_predict_reads_a_tsv_file_by_column(tiny_bert, tmp_path):
    (tmp_path / "in.tsv").write_text("id\tsentence\n1\tthe film was [MASK]\n2\tthe [MASK] was awful\n")
    done = minitx("predict", "fill-mask", "--model", tiny_bert, "--file", "in.tsv", "--text-column", "sentence",
                  "--top-k", "1", "--no-progress", cwd=tmp_path)
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert done.returncode == 0 and [r["id"] for r in rows] == ["1", "2"], done.stderr
    assert rows[1]["sentence"] == "the [MASK] was awful" and len(rows[1]["result"]) == 1
    done = minitx("predict", "fill-mask", "--model", tiny_bert, "--file", "in.tsv", "--no-progress", cwd=tmp_path)
    error_line(done, "in.tsv:2: no 'text' column")


def test_a_missing_optional_field_may_be_none():
    """A datasets.Dataset fills a key some rows lack with None: an optional field that is None is absent."""
    rows = [{"text": "a", "text_pair": None, "label": "x"}, {"text": "b", "text_pair": "c", "label": "y"}]
    got = read_examples(rows, "classify")
    assert _without_line(got) == [{"text": "a", "label": "x"}, {"text": "b", "text_pair": "c", "label": "y"}]


def test_a_table_that_iterates_over_its_column_names_gets_a_hint():
    class Frame:  # as a pandas DataFrame: iterating gives the column names
        def __iter__(self):
            return iter(["text", "label"])

        def to_dict(self, orient):
            return [{"text": "a", "label": "x"}]

    with pytest.raises(ValueError, match=r"^examples\[0\]: expected a mapping \(a dict\), got str; of a pandas "
                                         r"DataFrame pass df.to_dict\('records'\)$"):
        read_examples(Frame(), "classify")
    assert _without_line(read_examples(Frame().to_dict("records"), "classify")) == [{"text": "a", "label": "x"}]


def test_squad_answers_and_class_labels_of_a_dataset_are_read_as_named_fields():
    """A datasets.Dataset of squad holds {"text": [...], "answer_start": [...]}; of conll2003,
    tag numbers with their names in .features (Sequence(ClassLabel))."""
    squad = [{"question": "Where?", "context": "Ada lives in London.",
              "answers": {"text": ["London", "London."], "answer_start": [13, 13]}}]
    got = read_examples(squad, "qa", columns={"answer": "answers"})
    assert _without_line(got) == [{"question": "Where?", "context": "Ada lives in London.", "answer": "London",
                                   "answer_start": 13}]
    with pytest.raises(ValueError, match=r"^examples\[0\]: field 'answers' holds no answer text"):
        read_examples([{**squad[0], "answers": {"text": [], "answer_start": []}}], "qa", columns={"answer": "answers"})

    class ClassLabel:
        names = ["O", "B-PER", "B-LOC"]

    class Sequence:
        feature = ClassLabel()

    class Conll(Rows):
        features = {"tokens": object(), "ner_tags": Sequence()}

    got = read_examples(Conll([{"tokens": ["Ada", "in", "Paris"], "ner_tags": [1, 0, 2]}]), "tag",
                        columns={"tags": "ner_tags"})
    assert _without_line(got) == [{"tokens": ["Ada", "in", "Paris"], "tags": ["B-PER", "O", "B-LOC"]}]
