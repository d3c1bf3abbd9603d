"""`minitx prepare`: text files tokenized once into a prepared corpus (data/token_file.py),
and the checks `train gpt --data corpus.bin` makes of one.

The text is streamed a chunk at a time (data/text_chunks.py), never read whole:
a character vocabulary takes a first pass over all of it; a BPE learns from a
bounded sample (--bpe-sample MB, chunks taken evenly across the text: all of a
smaller text, so the tokenizer is the one `train gpt --tokenizer bpe:N` learns
from the same file); a tokenizer folder needs no pass. A second pass encodes
each chunk and appends its ids to the file.
"""
import os
import sys

from ..tokenizers._files import STDIN
from .app import CLIError, note
from .options import given, open_fraction, positive_int
from .training import check_file

CHUNK_BYTES = 1 << 20   # text read per chunk


def add_prepare(commands):
    p = commands.add_parser("prepare", help="tokenize text files once, for train gpt --data on a big corpus",
                            description="Tokenize UTF-8 text files (read in order, as one text) into a prepared "
                                        "corpus: token ids and a header with the tokenizer and the validation "
                                        "split. `train gpt --data corpus.bin` reads it by memory map, so the "
                                        "corpus need not fit in memory.")
    p.add_argument("--data", nargs="+", required=True, metavar="FILE", help="UTF-8 text files")
    p.add_argument("--out", required=True, metavar="FILE", help="the prepared corpus to write, e.g. corpus.bin")
    p.add_argument("--tokenizer", default=None, metavar="SPEC",
                   help="char (one id per character; the default), bpe:N (a byte-level BPE of N tokens learnt "
                        "from the text), or a Hugging Face tokenizer folder or tokenizer.json")
    p.add_argument("--val-fraction", type=open_fraction, default=0.1,
                   help="share of the tokens held out for validation (the last ones)")
    p.add_argument("--bpe-sample", type=positive_int, default=64, metavar="MB",
                   help="bpe:N learns from at most this many MB of the text, taken evenly across it")
    p.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(run=prepare_corpus)


def prepare_corpus(args):
    from ..data.token_file import write_token_file
    from .gpt import make_tokenizer
    for path in args.data:
        check_file("data", path)
    if os.path.isdir(args.out):
        raise CLIError(f"--out {args.out}: is a folder; give the file to write, e.g. {os.path.join(args.out, 'corpus.bin')}")
    if any(os.path.abspath(args.out) == os.path.abspath(path) for path in args.data):
        raise CLIError(f"--out {args.out}: is one of the --data files; choose another --out")
    if os.path.exists(args.out) and not args.overwrite:
        raise CLIError(f"--out {args.out}: exists; pass --overwrite to replace it, or choose another --out")
    sizes = [os.path.getsize(path) for path in args.data]
    total = sum(sizes)
    if not total:
        raise CLIError(f"--data {' '.join(args.data)}: empty (no text to prepare)")
    spec = args.tokenizer or "char"
    tokenizer = make_tokenizer(spec, _vocab_texts(args, spec, total))
    sources = [{"path": os.path.abspath(path), "bytes": size} for path, size in zip(args.data, sizes)]
    header = write_token_file(args.out, _encoded(args, tokenizer, total), tokenizer, args.val_fraction, spec,
                              sources)
    note(f"{args.out}: {header['tokens']:,} tokens ({header['dtype']}, vocab {tokenizer.vocab_size}) from "
         f"{header['characters']:,} characters in {len(args.data)} file{'s' * (len(args.data) > 1)}; "
         f"validation: the last {header['val_tokens']:,} tokens")
    return 0


def _chunks(args, total, what):
    """(path, byte offset, text) of every chunk of the --data files, with a progress bar."""
    from tqdm import tqdm

    from ..data.text_chunks import text_chunks
    with tqdm(total=total, unit="B", unit_scale=True, desc=what, file=sys.stderr, disable=args.no_progress,
              dynamic_ncols=True, mininterval=0.5) as bar:
        for path in args.data:
            offset = 0
            for text, n in text_chunks([path], CHUNK_BYTES):
                yield path, offset, text
                offset += n
                bar.update(n)


def _vocab_texts(args, spec, total):
    """The texts make_tokenizer learns from: every chunk for char, an even sample of at most
    --bpe-sample MB for bpe:N (each `stride`-th chunk), none for a tokenizer folder."""
    if spec == "char":
        return (text for _, _, text in _chunks(args, total, "characters"))
    if spec.startswith("bpe:"):
        stride = -(-total // (args.bpe_sample * CHUNK_BYTES))   # ceil: 1 keeps every chunk
        return (text for k, (_, _, text) in enumerate(_chunks(args, total, "BPE sample")) if k % stride == 0)
    return ()


def _encoded(args, tokenizer, total):
    """(ids, characters) of each chunk; an error naming the file if the text holds no token."""
    tokens = 0
    for path, offset, text in _chunks(args, total, "tokens"):
        try:
            ids = tokenizer.encode(text)
        except ValueError as e:
            raise CLIError(f"--data {path}, in the text after byte {offset}: {e}") from None
        tokens += len(ids)
        yield ids, len(text)
    if not tokens:
        raise CLIError(f"--data {' '.join(args.data)}: no text to prepare (no tokens)")


def prepared_corpus(args, path, stored):
    """The prepared corpus `train gpt --data` names, opened and verified; None for a text
    file. A new run's typed options are checked against it; a resumed run's file was
    checked to hold the bytes the run began with (same_run), so it is the same kind."""
    from ..data.token_file import TokenFile, is_token_file
    # a pipe (--data -, /dev/stdin) is text: reading its first bytes to look would lose them
    if path is None or path == STDIN or not os.path.isfile(path) or not is_token_file(path):
        return None
    corpus = TokenFile(path)
    spec = corpus.header["tokenizer_spec"]
    if stored is None and given(args, "tokenizer") and args.tokenizer != spec:
        raise CLIError(f"--tokenizer {args.tokenizer}: {path} was prepared with --tokenizer {spec}; leave out "
                       f"--tokenizer, or prepare it again with yours")
    if stored is None and given(args, "val_fraction") and args.val_fraction != corpus.val_fraction:
        raise CLIError(f"--val-fraction {args.val_fraction}: {path} holds out {corpus.val_fraction} (set when "
                       f"prepared); leave out --val-fraction, or prepare it again with yours")
    corpus.verify()
    return corpus


def corpus_dataset(corpus, tokenizer, block_size, seed, init=None):
    """The TokenFileDataset of a prepared corpus, for a model with `tokenizer` (--init's
    must be the one the corpus was prepared with)."""
    from ..data import TokenFileDataset
    from ..data.token_file import tokenizer_json
    if init is not None and tokenizer_json(tokenizer) != corpus.header["tokenizer"]:
        raise CLIError(f"--init {init}: its tokenizer is not the one {corpus.path} was prepared with; prepare "
                       f"it with --tokenizer {init}")
    try:
        return TokenFileDataset(corpus, block_size, seed=seed)
    except ValueError as e:
        raise CLIError(f"--data {corpus.path}: {e}") from None
