"""The options that say how to read a table of examples: its format and which column
holds each field (minitx.data.tables reads it, minitx.data.finetune checks it)."""

# field -> what its column holds, for --help
_FIELDS = {"text": "the text", "text_pair": "classify: the second text of a pair",
           "label": "classify: the label (multi-label: a list of labels)", "tokens": "tag: the words",
           "tags": "tag: one tag a word", "question": "qa: the question", "context": "qa: the context",
           "answer": "qa: the answer", "answer_start": "qa: the answer's character offset in the context"}


def add_data_options(p, fields=tuple(_FIELDS)):
    """--data-format and a --FIELD-column option for each of `fields`."""
    from ..data.tables import FORMATS
    p.add_argument("--data-format", choices=FORMATS, default=None,
                   help="the format of the data files (default: by suffix: .jsonl or .json, .csv, .tsv, .parquet)")
    for name in fields:
        p.add_argument(f"--{name.replace('_', '-')}-column", metavar="NAME", default=None,
                       help=f"{_FIELDS[name]}: the column (JSONL: the key) that holds it (default: "
                            f"{'label, or labels with --multi-label' if name == 'label' else name})")


def columns(args):
    """{field: column} of the columns named on the command line."""
    named = {name: getattr(args, f"{name}_column", None) for name in _FIELDS}
    found = {name: column for name, column in named.items() if column is not None}
    if "label" in found and getattr(args, "multi_label", False):
        found["labels"] = found.pop("label")
    return found
