"""Training data: the built-in corpus, text files, and token-id datasets."""
from .corpus import builtin_documents, builtin_text
from .dataset import TokenDataset
from .text import read_text

__all__ = ["TokenDataset", "builtin_documents", "builtin_text", "read_text"]
