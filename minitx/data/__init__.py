"""Training data: the built-in corpus, text files, and token-id datasets."""
from ..tokenizers._files import read_text
from .corpus import builtin_documents, builtin_text
from .dataset import TokenDataset, TokenFileDataset

__all__ = ["TokenDataset", "TokenFileDataset", "builtin_documents", "builtin_text", "read_text"]
