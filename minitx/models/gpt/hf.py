"""GPT as Hugging Face folders, in and out: GPT-2's config.json and weights
(GPT.from_pretrained / save_pretrained), and the tokenizer files beside them, so that
transformers' AutoModelForCausalLM and AutoTokenizer load what minitx trained, and
minitx loads what they saved."""
import json
import os
from typing import Optional

from ...tokenizers import BPETokenizer, CharTokenizer
from .. import hub
from .config import GPTConfig

# transformers' activation_function names for our two GELUs
_HF_ACT = {"gelu_tanh": "gelu_new", "gelu": "gelu"}
_FROM_HF_ACT = {name: "gelu_tanh" if approx == "tanh" else "gelu" for name, approx in hub.HF_GELU.items()}
# GPT-2 stores these as Conv1D weights, (in, out); ours are Linear, (out, in).
_CONV1D = ("attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight")
# What GPT-2's layout can express, for the GPTConfig fields it cannot hold in every value:
# the values it can hold, and what it is then.
GPT2_LAYOUT = {"position": (("learned",), "learned positions"), "bias": ((True,), "biases")}
_UNSET = object()


def layout_refuses(config):
    """Why GPT-2's layout cannot hold a model of `config` (one line), or None if it can."""
    for field, (values, has) in GPT2_LAYOUT.items():
        if getattr(config, field) not in values:
            return f"GPT-2's layout has {has}; this model has {field}={getattr(config, field)!r}"
    return None


def from_pretrained(cls, path, dtype):
    """A `cls` (GPT) from a GPT-2 folder; see GPT.from_pretrained."""
    file, weights_file = os.path.join(path, hub.CONFIG), os.path.join(path, hub.WEIGHTS)
    hf = hub.read_config(path)
    if hf.get("model_type", "gpt2") != "gpt2":
        raise ValueError(f"{file}: model_type {hf.get('model_type')!r} is not gpt2")
    act = hub.value(hf, "activation_function", str, file, "gelu_new")
    if act not in _FROM_HF_ACT:
        raise ValueError(f"{file}: activation_function {act!r} is not supported")
    fields = dict(
        vocab_size=hub.value(hf, "vocab_size", int, file),
        block_size=hub.value(hf, "n_positions", int, file, hub.value(hf, "n_ctx", int, file, 1024)),
        n_layer=hub.value(hf, "n_layer", int, file), n_head=hub.value(hf, "n_head", int, file),
        n_embd=hub.value(hf, "n_embd", int, file), dropout=hub.value(hf, "resid_pdrop", float, file, 0.0),
        tie_word_embeddings=hub.value(hf, "tie_word_embeddings", bool, file, True),
        activation=_FROM_HF_ACT[act], layer_norm_eps=hub.value(hf, "layer_norm_epsilon", float, file, 1e-5),
        n_inner=hub.value(hf, "n_inner", Optional[int], file, None))
    state = _state_from_hf(hub.read_weights(path))
    hub.check_sizes(file, weights_file, state, [
        ("vocab_size", fields["vocab_size"], "transformer.wte.weight", 0),
        ("n_positions", fields["block_size"], "transformer.wpe.weight", 0),
        ("n_embd", fields["n_embd"], "transformer.wte.weight", 1)])
    layers = hub.count_layers(state, "transformer.h.")
    if layers != fields["n_layer"]:
        raise ValueError(f"{file}: n_layer is {fields['n_layer']}, but {weights_file} holds {layers} layers")
    try:
        config = GPTConfig(**fields)
    except ValueError as e:
        raise ValueError(f"{file}: {e}") from None
    model = cls(config)
    if config.tie_word_embeddings:
        state["lm_head.weight"] = state.get("transformer.wte.weight")
        if state["lm_head.weight"] is None:
            state.pop("lm_head.weight")
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        raise ValueError(f"{weights_file}: {e}") from None
    return model.to(dtype).eval()  # as transformers' from_pretrained: dropout off until .train()


def save_pretrained(model, path, bos_token_id=_UNSET, eos_token_id=_UNSET, pad_token_id=None):
    """config.json and model.safetensors of `model` in GPT-2's layout; see GPT.save_pretrained."""
    c = model.config
    refused = layout_refuses(c)
    if refused:
        raise ValueError(f"save_pretrained: {refused}")
    hf = {
        "architectures": ["GPT2LMHeadModel"], "model_type": "gpt2",
        "vocab_size": c.vocab_size, "n_positions": c.block_size, "n_ctx": c.block_size,
        "n_embd": c.n_embd, "n_layer": c.n_layer, "n_head": c.n_head, "n_inner": c.n_inner,
        "activation_function": _HF_ACT[c.activation], "layer_norm_epsilon": c.layer_norm_eps,
        "resid_pdrop": c.dropout, "embd_pdrop": c.dropout, "attn_pdrop": c.dropout,
        "tie_word_embeddings": c.tie_word_embeddings,
        "bos_token_id": c.vocab_size - 1 if bos_token_id is _UNSET else bos_token_id,
        "eos_token_id": c.vocab_size - 1 if eos_token_id is _UNSET else eos_token_id,
    }
    if pad_token_id is not None:
        hf["pad_token_id"] = pad_token_id
    weights = {}
    for name, value in model.state_dict().items():
        if name == "lm_head.weight" and c.tie_word_embeddings:
            continue  # shared with transformer.wte.weight
        weights[name] = value.T if name.endswith(_CONV1D) else value
    hub.write_folder(path, hf, weights)


def _state_from_hf(weights):
    """GPT-2's Hugging Face names and Conv1D layout -> this model's state_dict."""
    state = {}
    for key, value in weights.items():
        if key.endswith((".attn.bias", ".attn.masked_bias")):
            continue  # the causal mask buffers of older transformers
        name = key if key.startswith(("transformer.", "lm_head.")) else "transformer." + key
        state[name] = value.T if name.endswith(_CONV1D) else value
    return state


EOS = "<|endoftext|>"


def hf_tokenizer(folder):
    """The tokenizer of a Hugging Face GPT-2 folder: tokenizer.json (a byte-level BPE, or
    the character-level one export_hf writes), else GPT-2's vocab.json and merges.txt."""
    file = os.path.join(folder, "tokenizer.json")
    if os.path.exists(file):
        with open(file, encoding="utf-8") as f:
            model = json.load(f).get("model")
        if isinstance(model, dict) and model.get("type") == "WordLevel":
            return CharTokenizer.load_hf(file)
        return BPETokenizer.load(file)
    vocab, merges = os.path.join(folder, "vocab.json"), os.path.join(folder, "merges.txt")
    if not (os.path.exists(vocab) and os.path.exists(merges)):
        raise FileNotFoundError(f"{folder}: no tokenizer.json, or vocab.json and merges.txt")
    return BPETokenizer.from_gpt2_files(vocab, merges)


def special_ids(tokenizer):
    """{"bos_token_id", "eos_token_id", "pad_token_id"}: GPT-2's <|endoftext|> where the
    vocab has it, else None (a character-level vocab has no end-of-text token)."""
    eos = tokenizer.special_tokens.get(EOS)
    return {"bos_token_id": eos, "eos_token_id": eos, "pad_token_id": eos}


def export_hf(model, tokenizer, path):
    """A folder transformers loads whole: config.json and model.safetensors
    (GPT2LMHeadModel), the tokenizer (tokenizer.json, and GPT-2's vocab.json and
    merges.txt for a byte-level BPE), tokenizer_config.json and generation_config.json
    (minitx sample's defaults)."""
    ids = special_ids(tokenizer)
    model.save_pretrained(path, **ids)
    config = {"model_max_length": model.config.block_size, "clean_up_tokenization_spaces": False}
    if isinstance(tokenizer, BPETokenizer):
        tokenizer.save(os.path.join(path, "tokenizer.json"))
        tokenizer.save_gpt2_files(os.path.join(path, "vocab.json"), os.path.join(path, "merges.txt"))
        config.update(tokenizer_class="GPT2Tokenizer", add_prefix_space=tokenizer.add_prefix_space)
        if ids["eos_token_id"] is not None:
            config.update(bos_token=EOS, eos_token=EOS, unk_token=EOS)
    elif isinstance(tokenizer, CharTokenizer):
        tokenizer.save_hf(os.path.join(path, "tokenizer.json"))
        config.update(tokenizer_class="PreTrainedTokenizerFast")
    else:
        raise ValueError(f"export: a GPT run's tokenizer is a CharTokenizer or BPETokenizer, not "
                         f"{type(tokenizer).__name__}")
    generation = {"do_sample": True, "temperature": 0.8, **{k: v for k, v in ids.items() if v is not None}}
    for name, data in (("tokenizer_config.json", config), ("generation_config.json", generation)):
        with open(os.path.join(path, name), "w", encoding="utf-8") as f:
            json.dump(data, f, indent=2)
