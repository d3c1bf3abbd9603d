"""The interface all three tokenizers share: encode, decode, encode_batch,
vocab_size, special_tokens, token_to_id, save and load."""

import pytest
from pydoc_data.topics import topics

from minitx.tokenizers import BPETokenizer, CharTokenizer, WordPieceTokenizer
from minitx.tokenizers.base import Tokenizer

CORPUS = "".join(topics.values())[:20_000]
TEXT = "The assert statement, for debugging.\n"


def ids_of(encoded):
    """WordPiece returns BERT's inputs; the others, the ids themselves."""
    return encoded.input_ids if hasattr(encoded, "input_ids") else encoded


@pytest.fixture(scope="module", params=["char", "bpe", "wordpiece"])
def tok(request):
    return {
        "char": lambda: CharTokenizer.train(CORPUS, special_tokens=["<|endoftext|>"]),
        "bpe": lambda: BPETokenizer.train(CORPUS, 500),
        "wordpiece": lambda: WordPieceTokenizer.train(CORPUS, 500),
    }[request.param]()


def test_is_a_tokenizer_with_special_token_ids_in_range(tok):
    assert isinstance(tok, Tokenizer)
    assert tok.special_tokens
    for token, i in tok.special_tokens.items():
        assert 0 <= i < tok.vocab_size and tok.token_to_id(token) == i


def test_encode_decode_and_batch(tok):
    ids = ids_of(tok.encode(TEXT))
    assert all(0 <= i < tok.vocab_size for i in ids)
    assert isinstance(tok.decode(ids), str)
    if not isinstance(tok, WordPieceTokenizer):  # BERT's normalization loses case and spacing
        assert tok.decode(ids) == TEXT
        assert tok.encode_batch([TEXT, ""]) == [ids, []]


def test_save_and_load_give_the_same_tokenizer(tok, tmp_path):
    tok.save(tmp_path / "tok.json")
    again = type(tok).load(tmp_path / "tok.json")
    assert ids_of(again.encode(TEXT)) == ids_of(tok.encode(TEXT))
    assert again.vocab_size == tok.vocab_size and again.special_tokens == tok.special_tokens
