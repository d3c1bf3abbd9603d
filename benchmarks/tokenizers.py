"""Tokenizer throughput: minitx against tiktoken and the tokenizers library.

    python benchmarks/tokenizers.py

Trains minitx's byte-level BPE (4,096 tokens) and WordPiece (8,192 tokens) on
1 MB of real text, hands the same vocabs to the references, then times
`encode` of CPython's reference manual (pydoc_data, about 465 KB), one thread
each, best of 3. Prints MB/s and ours / theirs as ratios, and where our time goes.
"""

import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("RAYON_NUM_THREADS", "1")  # the tokenizers library: one thread, like ours

# Python puts this script's folder first on sys.path, where this very file would
# shadow the tokenizers library; the repository root goes there instead.
sys.path[0] = str(Path(__file__).resolve().parents[1])

from pydoc_data.topics import topics  # noqa: E402

from minitx.tokenizers import BPETokenizer, WordPieceTokenizer  # noqa: E402
from minitx.tokenizers.bpe import CHAR_TO_BYTE, gpt2_pattern  # noqa: E402

GPT2_REGEX = r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
TEXT = "".join(topics.values())
MB = len(TEXT.encode("utf-8")) / 1e6


def training_text(n_bytes=1_000_000):
    """The reference manual, then the standard library's own source, up to n_bytes of UTF-8."""
    parts, size = [TEXT], len(TEXT.encode("utf-8"))
    for path in sorted(Path(os.__file__).parent.glob("*.py")):
        if size >= n_bytes:
            break
        source = path.read_text(encoding="utf-8", errors="replace")
        parts.append(source)
        size += len(source.encode("utf-8"))
    return "".join(parts).encode("utf-8")[:n_bytes].decode("utf-8", "ignore")


def best_of(fn, repeat=3):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def row(name, seconds, references=()):
    """One line: MB/s, then the speed of ours as a fraction of each reference's."""
    ratios = "".join(f"   {ref_seconds / seconds:.3f}x {ref}" for ref, ref_seconds in references)
    print(f"  {name:<20} {MB / seconds:8.2f} MB/s{ratios}")


def main():
    import tiktoken
    import tokenizers

    corpus = training_text()
    print(f"training corpus: {len(corpus.encode('utf-8')) / 1e6:.2f} MB (pydoc_data topics + stdlib source)")
    start = time.perf_counter()
    bpe = BPETokenizer.train(corpus, 4096)
    print(f"  BPE, 4,096 tokens:       {time.perf_counter() - start:6.2f} s")
    start = time.perf_counter()
    wordpiece = WordPieceTokenizer.train(corpus, 8192)
    print(f"  WordPiece, 8,192 tokens: {time.perf_counter() - start:6.2f} s")

    with tempfile.TemporaryDirectory() as folder:
        bpe.save(Path(folder) / "bpe.json")
        hf_bpe = tokenizers.Tokenizer.from_file(str(Path(folder) / "bpe.json"))
        wordpiece.save_vocab_file(Path(folder) / "vocab.txt")
        hf_wordpiece = tokenizers.BertWordPieceTokenizer(str(Path(folder) / "vocab.txt"))
    ranks = {bytes(CHAR_TO_BYTE[c] for c in token): i for token, i in bpe.vocab.items()}
    tik = tiktoken.Encoding("bench", pat_str=GPT2_REGEX, mergeable_ranks=ranks,
                            special_tokens=bpe.special_tokens)
    assert bpe.encode(TEXT) == tik.encode(TEXT, allowed_special="all") == hf_bpe.encode(TEXT).ids
    assert wordpiece.encode(TEXT).input_ids == hf_wordpiece.encode(TEXT).ids

    print(f"\nencode, {MB:.2f} MB of text, one thread, best of 3; ratios: our speed / theirs")
    print("byte-level BPE")
    t_tik = best_of(lambda: tik.encode_ordinary(TEXT))
    t_hf = best_of(lambda: hf_bpe.encode(TEXT))
    # cold: a fresh tokenizer whose word cache is empty, so every distinct word is merged
    t_cold = best_of(lambda: BPETokenizer(bpe.vocab, bpe.merges, bpe.special_tokens).encode(TEXT))
    t_warm = best_of(lambda: bpe.encode(TEXT))
    t_regex = best_of(lambda: gpt2_pattern().findall(TEXT))
    references = [("tiktoken", t_tik), ("tokenizers", t_hf)]
    row("tiktoken", t_tik)
    row("tokenizers", t_hf)
    row("minitx, cold cache", t_cold, references)
    row("minitx, warm cache", t_warm, references)
    print(f"  where minitx's cold time goes: regex split {t_regex / t_cold:.0%}, "
          f"merging new words {(t_cold - t_warm) / t_cold:.0%}, "
          f"cache lookups and ids {(t_warm - t_regex) / t_cold:.0%}")

    print("WordPiece")
    t_hf = best_of(lambda: hf_wordpiece.encode(TEXT))
    t_cold = best_of(lambda: _fresh(wordpiece).encode(TEXT))
    t_warm = best_of(lambda: wordpiece.encode(TEXT))
    t_basic = best_of(lambda: wordpiece.basic_tokenize(TEXT))
    row("tokenizers", t_hf)
    row("minitx, cold cache", t_cold, [("tokenizers", t_hf)])
    row("minitx, warm cache", t_warm, [("tokenizers", t_hf)])
    print(f"  where minitx's cold time goes: basic tokenizer {t_basic / t_cold:.0%}, "
          f"word pieces of new words {(t_cold - t_warm) / t_cold:.0%}, "
          f"cache lookups and ids {(t_warm - t_basic) / t_cold:.0%}")


def _fresh(wordpiece):
    """A copy with an empty word cache."""
    tokens = [wordpiece.id_to_token(i) for i in range(wordpiece.vocab_size)]
    return WordPieceTokenizer(tokens, wordpiece.lowercase)


if __name__ == "__main__":
    main()
