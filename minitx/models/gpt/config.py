"""GPTConfig: a GPT's sizes and named choices (positions, activation, bias), checked
when made; each block is built from its block_config()."""
import dataclasses
from dataclasses import dataclass
from typing import Optional

from ... import nn
from ...config import check_fields, from_dict


@dataclass
class GPTConfig:
    vocab_size: int = 50257
    block_size: int = 1024
    n_layer: int = 12
    n_head: int = 12
    n_embd: int = 768
    dropout: float = 0.0
    bias: bool = True
    tie_word_embeddings: bool = True
    activation: str = "gelu_tanh"
    layer_norm_eps: float = 1e-5
    n_inner: Optional[int] = None  # MLP width; None means 4 * n_embd
    position: str = "learned"      # "learned" (GPT-2's), "sinusoidal" or "rotary"; see nn.transformer
    rope_base: float = 10000.0     # rotary: inv_freq = 1 / rope_base^(2i / HS)

    def __post_init__(self):
        check_fields(self)
        for name in ("vocab_size", "block_size", "n_layer", "n_head", "n_embd"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"GPTConfig: {name} must be positive, got {getattr(self, name)}")
        if self.n_embd % self.n_head:
            raise ValueError(f"GPTConfig: n_embd {self.n_embd} is not divisible by n_head {self.n_head}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"GPTConfig: dropout must be in [0, 1), got {self.dropout}")
        if not self.rope_base > 0:
            raise ValueError(f"GPTConfig: rope_base must be positive, got {self.rope_base}")
        try:
            self.block_config()
        except ValueError as e:
            raise ValueError(str(e).replace("BlockConfig", "GPTConfig")) from None

    def block_config(self):
        """The choices every block of this model is built from."""
        return nn.BlockConfig(n_embd=self.n_embd, n_head=self.n_head, position=self.position,
                              activation=self.activation, bias=self.bias, dropout=self.dropout, causal=True,
                              norm_eps=self.layer_norm_eps, hidden=self.n_inner, rope_base=self.rope_base)

    @classmethod
    def from_dict(cls, data, where):
        return from_dict(cls, data, where)

    def to_dict(self):
        return dataclasses.asdict(self)
