"""The attention weights of a tiny character GPT's first layer, each head on one prompt:
row i is how query i spreads over the keys up to it (causal: nothing above the diagonal)."""
from _common import output_path, tiny_gpt

import numpy as np

from minitx import no_grad
from minitx.viz import attention_map

PROMPT = "for x in range(n):"


def attention_weights(model, ids, layer):
    """softmax(q k^T / sqrt(HS)) of one layer's heads, causal, on one prompt ids (T,) -> (NH, T, T),
    checked: weights @ v through c_proj is the layer's attention output."""
    tr, T = model.transformer, len(ids)
    NH = model.config.n_head
    with no_grad():
        x = tr.wte(ids[None]) + tr.wpe(np.arange(T))  # (1, T, C)
        for block in tr.h[:layer]:
            x = block(x)
        attn, h = tr.h[layer].attn, tr.h[layer].ln_1(x)
        qkv = attn.c_attn(h).data[0].astype(np.float64)  # (T, 3C)
        out = attn(h).data[0]  # (T, C)
    q, k, v = (a.reshape(T, NH, -1).transpose(1, 0, 2) for a in np.split(qkv, 3, axis=-1))  # (NH, T, HS)
    scores = q @ k.transpose(0, 2, 1) / np.sqrt(q.shape[-1])  # (NH, T, T)
    scores = np.where(np.tri(T, dtype=bool), scores, -np.inf)
    weights = np.exp(scores - scores.max(-1, keepdims=True))
    weights /= weights.sum(-1, keepdims=True)
    y = (weights @ v).transpose(1, 0, 2).reshape(T, -1)  # (T, C), heads merged
    proj = attn.c_proj
    assert np.allclose(y @ proj.weight.data.T + proj.bias.data, out, atol=1e-4), "not the layer's weights"
    return weights


if __name__ == "__main__":
    path = output_path(__file__, __doc__)
    model, tokenizer = tiny_gpt()
    layer = 0
    weights = attention_weights(model, np.array(tokenizer.encode(PROMPT)), layer)
    attention_map(weights, list(PROMPT), path=path, title=f"layer {layer}: the weights of each head")
    print(path)
