"""GPT: the GPT-2 architecture, generation with a KV cache, Hugging Face folders in and out."""
from .config import GPTConfig
from .generate import TextStreamer
from .model import GPT, GPTOutput

__all__ = ["GPT", "GPTConfig", "GPTOutput", "TextStreamer"]
