"""Tokenizers: text to token ids and back.

CharTokenizer (one id per character), BPETokenizer (GPT-2's byte-level BPE)
and WordPieceTokenizer (BERT's). All three share one interface: `encode`,
`decode`, `encode_batch`, `vocab_size`, `special_tokens`, `token_to_id`,
`save` and `load`. See docs/tokenizers.md.
"""

from .bpe import BPETokenizer
from .char import CharTokenizer
from .wordpiece import WordPieceTokenizer

__all__ = ["BPETokenizer", "CharTokenizer", "WordPieceTokenizer"]
