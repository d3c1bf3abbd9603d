"""The weight init that GPT-2 and BERT share, as torch.nn.init does for single tensors."""
from ..random import default_generator
from .layers import Embedding, LayerNorm, Linear
from .parameter import Parameter


def transformer_init_(model, std, std_of=None, skip=None):
    """N(0, std) for Linear and Embedding weights (an Embedding's padding row zeroed),
    zero biases, LayerNorm weights one. std_of(name): a weight's own std (GPT-2 scales
    its residual projections). Each parameter is set once, by its first module (a tied
    weight by the embedding), in module order so that a seed gives the same draws; the
    parameters of module `skip` (already initialised) are left alone."""
    rng = default_generator()
    seen = {id(p) for p in skip.parameters()} if skip is not None else set()

    def fresh(p):
        new = isinstance(p, Parameter) and id(p) not in seen
        seen.add(id(p))
        return new
    for name, m in model.named_modules():
        if isinstance(m, (Linear, Embedding)) and fresh(m.weight):
            own = std_of(f"{name}.weight") if std_of is not None else std
            m.weight.data[...] = rng.normal(0.0, own, size=m.weight.shape)
            if isinstance(m, Embedding) and m.padding_idx is not None:
                m.weight.data[m.padding_idx] = 0
        if isinstance(m, LayerNorm) and fresh(m.weight):
            m.weight.data[...] = 1
        if fresh(getattr(m, "bias", None)):
            m.bias.data[...] = 0
