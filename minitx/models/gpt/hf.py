"""GPT runs as Hugging Face folders: the tokenizer files beside a GPT-2 checkpoint, in
and out, so that transformers' AutoModelForCausalLM and AutoTokenizer load what
minitx trained, and minitx loads what they saved. The weights themselves are
GPT.from_pretrained / save_pretrained (model.py)."""
import json
import os

from ...tokenizers import BPETokenizer, CharTokenizer

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
