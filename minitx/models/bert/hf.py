"""BERT in and out of Hugging Face folders: config.json as transformers writes it,
model.safetensors with either layout (a bare BertModel's keys, or bert.* with
heads), and the WordPiece tokenizer files beside them.

Every value of config.json is checked (type, and sizes against the weights), so a
damaged file is one ValueError naming the file and key.
"""
import json
import os
import warnings

import numpy as np

from ...tokenizers import WordPieceTokenizer
from .. import hub
from .config import BertConfig

# Keys transformers' config.json always has for BERT; the rest fall back to BertConfig's defaults.
_REQUIRED = ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size")
# Keys of other heads that a checkpoint may carry; not loading them is not an error.
HEAD_PREFIXES = ("cls.", "classifier.", "qa_outputs.")


def config_from_hf(hf, file, **overrides):
    """BertConfig from a transformers config.json; keys BERT here does not use are ignored."""
    if hf.get("model_type", "bert") != "bert":
        raise ValueError(f"{file}: model_type {hf.get('model_type')!r} is not bert")
    if hf.get("position_embedding_type", "absolute") != "absolute":
        raise ValueError(f"{file}: position_embedding_type {hf['position_embedding_type']!r} "
                         f"is not supported (only 'absolute')")
    if hf.get("is_decoder"):
        raise ValueError(f"{file}: is_decoder=true (a causal BERT) is not supported")
    for key in _REQUIRED:
        if key not in hf:
            raise ValueError(f"{file}: {key} is missing")
    fields = set(BertConfig.__dataclass_fields__) - {"num_labels", "id2label"}
    kw = {k: v for k, v in hf.items() if k in fields}
    if kw.get("pad_token_id") is None:
        kw.pop("pad_token_id", None)
    labels = hf.get("id2label")
    if labels:
        if not isinstance(labels, dict) or not all(str(k).isdigit() for k in labels):
            raise ValueError(f"{file}: id2label must map label ids to names, got {labels!r}")
        kw["id2label"] = {int(k): v for k, v in labels.items()}
        kw["num_labels"] = len(kw["id2label"])
    kw.update(overrides)
    if "num_labels" in overrides and "id2label" not in overrides:
        kw.pop("id2label", None)  # a new head: the checkpoint's label names no longer apply
    try:
        return BertConfig(**kw)
    except ValueError as e:
        raise ValueError(f"{file}: {str(e).removeprefix('BertConfig: ')}") from None


def config_to_hf(config, architecture):
    """config.json as transformers writes it."""
    d = {k: v for k, v in config.to_dict().items() if k not in ("num_labels", "id2label")}
    labels = config.id2label or {i: f"LABEL_{i}" for i in range(config.num_labels)}
    d.update(architectures=[architecture], model_type="bert", position_embedding_type="absolute",
             id2label={str(i): name for i, name in labels.items()},
             label2id={name: i for i, name in labels.items()})
    return d


def from_pretrained(cls, path, dtype=np.float32, **config_overrides):
    """A `cls` from a Hugging Face BERT folder. Both layouts load into every class: a
    bare BertModel checkpoint (keys without `bert.`, as sentence-embedding models) and
    one with heads (BertForPreTraining, ...)."""
    file, weights_file = os.path.join(path, hub.CONFIG), os.path.join(path, hub.WEIGHTS)
    config = config_from_hf(hub.read_config(path), file, **config_overrides)
    weights = hub.read_weights(path)
    prefix = "bert." if any(k.startswith("bert.") for k in weights) else ""
    emb = f"{prefix}embeddings."
    hub.check_sizes(file, weights_file, weights, [
        ("vocab_size", config.vocab_size, emb + "word_embeddings.weight", 0),
        ("hidden_size", config.hidden_size, emb + "word_embeddings.weight", 1),
        ("max_position_embeddings", config.max_position_embeddings, emb + "position_embeddings.weight", 0),
        ("type_vocab_size", config.type_vocab_size, emb + "token_type_embeddings.weight", 0),
        ("intermediate_size", config.intermediate_size, f"{prefix}encoder.layer.0.intermediate.dense.weight", 0)])
    layers = hub.count_layers(weights, "encoder.layer.")
    if layers != config.num_hidden_layers:
        raise ValueError(f"{file}: num_hidden_layers is {config.num_hidden_layers}, but {weights_file} holds "
                         f"{layers} layers")
    return from_state_dict(cls, config, weights, where=weights_file, dtype=dtype)


def from_state_dict(cls, config, weights, where="state_dict", dtype=np.float32):
    """A `cls` from the weights of any BERT class (name -> array).

    Buffers such as embeddings.position_ids are skipped. Heads the weights lack keep
    a fresh init, with a warning (as transformers does when a classifier is added
    for fine-tuning); a head they have but this class does not use is dropped.
    Anything else missing, extra or of another shape is an error naming `where`.
    """
    model = cls(config)
    bare = not hasattr(model, "bert")
    state = {}
    for key, value in weights.items():
        key = key.replace("LayerNorm.gamma", "LayerNorm.weight").replace("LayerNorm.beta", "LayerNorm.bias")
        if key.endswith(("embeddings.position_ids", "embeddings.token_type_ids")):
            continue  # index buffers of transformers, not weights
        if bare:
            if key.startswith("bert."):
                key = key[len("bert."):]
            elif key.startswith(HEAD_PREFIXES):
                continue
        elif not key.startswith(("bert.",) + HEAD_PREFIXES):
            key = "bert." + key
        state[key] = value
    # An older checkpoint stores the tied decoder too; it aliases the embedding and bias.
    decoder_bias = state.pop("cls.predictions.decoder.bias", None)
    if decoder_bias is not None:
        state.setdefault("cls.predictions.bias", decoder_bias)
    own, tied = model.state_dict(), model._tied_keys()
    for key in tied:
        state.pop(key, None)
    optional = HEAD_PREFIXES + (("" if bare else "bert.") + "pooler.",)
    unexpected = [k for k in state if k not in own]
    bad = [k for k in unexpected if not k.startswith(optional)]
    if bad:
        raise ValueError(f"{where}: weights that BERT {cls.__name__} has no place for: {', '.join(bad)}")
    for k in unexpected:
        del state[k]
    missing = [k for k in own if k not in state and k not in tied]
    bad = [k for k in missing if not k.startswith(optional)]
    if bad:
        raise ValueError(f"{where}: the weights lack {', '.join(bad)}")
    if missing:
        warnings.warn(f"{cls.__name__} from {where}: newly initialised, train before use: "
                      f"{', '.join(missing)}", stacklevel=4)
    try:
        model.load_state_dict(state, strict=False)
    except RuntimeError as e:
        raise ValueError(f"{where}: {e}") from None
    return model.to(dtype).eval()  # as transformers' from_pretrained: dropout off until .train()


def save_pretrained(model, path):
    tied = model._tied_keys()
    weights = {k: v for k, v in model.state_dict().items() if k not in tied}
    hub.write_folder(path, config_to_hf(model.config, type(model).__name__), weights)


def hf_tokenizer(folder):
    """The WordPieceTokenizer of a Hugging Face BERT folder (tokenizer.json, else vocab.txt
    with tokenizer_config.json's do_lower_case). A malformed tokenizer_config.json is
    an error even beside tokenizer.json: it would be read by transformers."""
    config = os.path.join(folder, "tokenizer_config.json")
    lowercase = True
    if os.path.exists(config):
        try:
            with open(config, encoding="utf-8") as f:
                settings = json.load(f)
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise ValueError(f"{config}: not valid JSON ({e})") from None
        if not isinstance(settings, dict):
            raise ValueError(f"{config}: expected a JSON object, got {type(settings).__name__}")
        lowercase = hub.value(settings, "do_lower_case", bool, config, True)
    if os.path.exists(os.path.join(folder, "tokenizer.json")):
        return WordPieceTokenizer.load(os.path.join(folder, "tokenizer.json"))
    vocab = os.path.join(folder, "vocab.txt")
    if not os.path.exists(vocab):
        raise FileNotFoundError(f"{folder}: no tokenizer.json or vocab.txt to read the text with")
    return WordPieceTokenizer.from_vocab_file(vocab, lowercase=lowercase)


def export_hf(model, tokenizer, path):
    """A Hugging Face folder transformers loads: config.json, model.safetensors,
    vocab.txt, tokenizer.json and tokenizer_config.json."""
    model.save_pretrained(path)
    tokenizer.save_vocab_file(os.path.join(path, "vocab.txt"))
    tokenizer.save(os.path.join(path, "tokenizer.json"))
    with open(os.path.join(path, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump({"tokenizer_class": "BertTokenizer", "do_lower_case": tokenizer.lowercase,
                   "model_max_length": model.config.max_position_embeddings}, f, indent=2)
