"""GPT: the GPT-2 architecture, generation with a KV cache, Hugging Face folders in and out."""
from .generate import TextStreamer
from .model import GPT, GPTConfig, GPTOutput

__all__ = ["GPT", "GPTConfig", "GPTOutput", "TextStreamer"]
