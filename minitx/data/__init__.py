"""Training data: the built-in corpus, text files, and token-id datasets."""
from ..tokenizers._files import read_text
from .corpus import builtin_documents, builtin_text
from .dataset import TokenDataset

__all__ = ["TokenDataset", "builtin_documents", "builtin_text", "read_text"]
