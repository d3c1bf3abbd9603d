"""text-generation: a GPT continues each prompt, with `minitx sample`'s options."""
import os

import numpy as np

from .base import Option, Pipeline, is_hf_folder


def load_gpt(path):
    """(GPT, tokenizer) from a minitx GPT checkpoint, or a Hugging Face GPT-2 folder
    (config.json, model.safetensors, and tokenizer.json or vocab.json + merges.txt)."""
    from ..models.gpt import GPT
    from ..models.gpt.hf import hf_tokenizer
    from ..training.checkpoint import find_checkpoint, load_model
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: no such model folder")
    if is_hf_folder(path):
        return GPT.from_pretrained(path), hf_tokenizer(path)
    folder = find_checkpoint(path)
    try:
        return load_model(folder, model_types=("gpt",))
    except ValueError as e:
        raise ValueError(f"{e}; text-generation needs a GPT") from None


class TextGenerationPipeline(Pipeline):
    """pipe(prompt, max_new_tokens=50, temperature=0.8, top_k=None, top_p=None, do_sample=True,
    seed=None, return_full_text=True, repetition_penalty=1.0, no_repeat_ngram_size=0,
    num_return_sequences=1, stop_strings=None) -> [{generated_text}] (one per returned
    sequence; a text that reaches a stop string ends with it). An empty prompt starts
    at a newline, as `minitx sample` does. A list of prompts gives one list each,
    generated as one left-padded batch (of batch_size prompts); each row equals the
    prompt run alone (a seed seeds every row's draws alike, as each prompt alone).
    A batch that would fill block_size runs one prompt at a time instead."""

    task = "text-generation"
    cli_options = (
        Option("--max-new-tokens", "tokens to add", default=50, kind="positive_int"),
        Option("--temperature", "divides the logits before sampling", default=0.8, kind="positive_float"),
        Option("--sample-top-k", "sample from the k most likely tokens", kind="positive_int",
               to_call=lambda k: {"top_k": k}),
        Option("--top-p", "sample from the smallest set of tokens whose mass reaches p", kind="probability"),
        Option("--greedy", "take the most likely token (no sampling)", kind="flag",
               to_call=lambda on: {"do_sample": not on}),
        Option("--seed", "the sampler's seed", kind="non_negative_int"),
        Option("--repetition-penalty", "above 1 makes every token already in the text less likely",
               default=1.0, kind="positive_float"),
        Option("--no-repeat-ngram-size", "never repeat an n-gram of this many tokens (0: off)", default=0,
               kind="non_negative_int"),
        Option("--num-return-sequences", "texts per prompt (sampled)", default=1, kind="positive_int"),
        Option("--stop", "end a text once it holds this string (comma-separated: several)",
               to_call=lambda v: {"stop_strings": [s for s in v.split(",") if s] if v else None}),
    )

    @classmethod
    def load(cls, path, **options):
        model, tokenizer = load_gpt(path)
        model.eval()
        return cls(model, tokenizer, **options)

    @property
    def max_length(self):
        return self.model.config.block_size

    def _check(self, i, item):
        if not isinstance(item, str):
            raise TypeError(f"text-generation: input {i} is a {type(item).__name__}, not a str")

    def _shape(self, result, options):
        return result

    def _start(self, prompt):
        if prompt:
            return self.tokenizer.encode(prompt)
        try:
            return self.tokenizer.encode("\n")[:1] or [0]
        except (ValueError, KeyError):
            return [0]

    def _run(self, prompts, notes, max_new_tokens=50, temperature=0.8, top_k=None, top_p=None, do_sample=True,
             seed=None, return_full_text=True, repetition_penalty=1.0, no_repeat_ngram_size=0,
             num_return_sequences=1, stop_strings=None):
        from ..models.gpt.generate import cut_at_stop
        starts = [self._start(prompt) for prompt in prompts]
        for ids, note in zip(starts, notes):
            if len(ids) > self.max_length:
                note["truncated"] = True  # the context slides over the last block_size tokens
        # One left-padded batch, unless it would fill block_size: rows of a batch slide
        # together (GPT.generate), so then each runs alone and slides as it would alone.
        if max(map(len, starts)) + max_new_tokens > self.max_length:
            groups = [[i] for i in range(len(starts))]
        else:
            groups = [range(len(starts))]
        k = num_return_sequences
        new = [None] * len(starts)
        for group in groups:
            rows = [starts[i] for i in group]
            W = max(map(len, rows))
            ids = np.zeros((len(rows), W), np.int64)      # (B, W), padding on the left
            mask = np.zeros((len(rows), W), np.int64)     # (B, W), 1 = a real token
            for j, row in enumerate(rows):
                ids[j, W - len(row):], mask[j, W - len(row):] = row, 1
            out = self.model.generate(ids, max_new_tokens, temperature=temperature, top_k=top_k, top_p=top_p,
                                      do_sample=do_sample, attention_mask=mask,
                                      seed=None if seed is None else [seed] * len(rows),
                                      repetition_penalty=repetition_penalty,
                                      no_repeat_ngram_size=no_repeat_ngram_size, num_return_sequences=k,
                                      stop_strings=stop_strings, tokenizer=self.tokenizer)
            for j, i in enumerate(group):
                new[i] = [out[j * k + c, W:].tolist() for c in range(k)]   # (k, n) per prompt
        results = []
        for prompt, ids, tails in zip(prompts, starts, new):
            sequences = []
            for tail in tails:
                text = cut_at_stop(self.tokenizer.decode(tail), stop_strings)
                full = self.tokenizer.decode(list(ids)) + text
                if not prompt and full.startswith("\n"):
                    full = full[1:]
                sequences.append({"generated_text": full if return_full_text else text})
            results.append(sequences)
        return results
