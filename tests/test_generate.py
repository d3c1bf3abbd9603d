"""Generation's options beside the sampler: repetition penalty and n-gram blocking as
their definitions say, stop strings, streaming, several sequences per prompt, and the
`minitx sample` flags that reach them. Equality with transformers' generate is in
tests/test_gpt_parity.py."""
import io

import numpy as np
import pytest

import minitx
from minitx.cli import main
from minitx.models.gpt import GPT, GPTConfig, TextStreamer
from minitx.models.gpt.generate import banned_ngram_tokens, cut_at_stop, penalize_repetition
from minitx.tokenizers import CharTokenizer
from minitx.training.checkpoint import save_checkpoint

TEXT = "the cat sat on the mat. the dog ate the rat.\n"


@pytest.fixture(scope="module")
def tok():
    return CharTokenizer.train(TEXT)


@pytest.fixture(scope="module")
def model(tok):
    minitx.manual_seed(0)
    return GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=32, n_layer=1, n_head=2, n_embd=16))


def test_repetition_penalty_divides_positive_and_multiplies_negative_logits():
    logits = np.array([[2.0, -2.0, 1.0, 0.5]])
    out = penalize_repetition(logits, np.array([[0, 1, 1]]), 2.0)
    np.testing.assert_array_equal(out, [[1.0, -4.0, 1.0, 0.5]])   # seen once or twice: penalised once


def test_banned_ngrams_are_the_tokens_that_followed_the_last_n_minus_1():
    ids = np.array([[1, 2, 3, 1, 2], [1, 2, 3, 4, 5]])
    assert banned_ngram_tokens(ids, 3) == [[3], []]          # (1, 2) was followed by 3
    assert banned_ngram_tokens(ids, 2) == [[3], []]          # 2 was followed by 3
    assert banned_ngram_tokens(ids[:, :1], 3) == [[], []]    # too short for any 3-gram


def test_no_repeat_ngram_size_leaves_no_ngram_twice(model):
    out = model.generate([[1, 2, 3]], 25, do_sample=False, no_repeat_ngram_size=2)[0].tolist()
    pairs = list(zip(out, out[1:]))
    assert len(pairs) == len(set(pairs))
    loops = model.generate([[1, 2, 3]], 25, do_sample=False)[0].tolist()
    assert len(set(zip(loops, loops[1:]))) < len(loops) - 1      # without it the greedy text repeats


def test_stop_strings_end_each_row_and_pad_it(model, tok):
    prompts = np.array([tok.encode("the c"), tok.encode("the d")])
    free = model.generate(prompts, 20, do_sample=False)
    text = tok.decode(free[0, 5:].tolist())
    stop = text[3:5]                                  # a string the greedy text does reach
    out = model.generate(prompts, 20, do_sample=False, stop_strings=[stop], tokenizer=tok, pad_token_id=0)
    row = tok.decode(out[0, 5:].tolist())
    assert cut_at_stop(row, [stop]) == text[:text.index(stop) + len(stop)]
    n = len(tok.encode(cut_at_stop(row, [stop])))
    assert (out[0, 5 + n:] == 0).all()                # padded after the stop
    with pytest.raises(ValueError, match="stop_strings needs tokenizer="):
        model.generate(prompts, 3, stop_strings=["x"])


def test_a_streamer_sees_the_prompt_then_every_token(model, tok):
    seen = []

    class Recorder:
        def put(self, value):
            seen.append(np.array(value))

        def end(self):
            seen.append("end")

    out = model.generate([tok.encode("the ")], 6, do_sample=False, streamer=Recorder())
    assert seen[0].tolist() == [tok.encode("the ")] and seen[-1] == "end"
    assert [int(v[0]) for v in seen[1:-1]] == out[0, 4:].tolist()
    buffer = io.StringIO()
    model.generate([tok.encode("the ")], 6, do_sample=False, streamer=TextStreamer(tok, file=buffer))
    assert buffer.getvalue() == tok.decode(out[0, 4:].tolist()) + "\n"


def test_generation_options_are_checked(model):
    for kw, message in [(dict(repetition_penalty=0.0), "repetition_penalty must be"),
                        (dict(no_repeat_ngram_size=-1), "no_repeat_ngram_size must be"),
                        (dict(num_return_sequences=0), "num_return_sequences must be"),
                        (dict(num_return_sequences=2, do_sample=False), "needs do_sample=True")]:
        with pytest.raises(ValueError, match=message):
            model.generate([[1, 2]], 3, **kw)


def test_sample_command_greedy_stream_and_stop(model, tok, tmp_path, capsys):
    save_checkpoint(tmp_path / "ckpt", model, {"model_type": "gpt", "model": model.config.to_dict()},
                    tokenizer=tok)
    base = ["sample", "--ckpt", str(tmp_path / "ckpt"), "--prompt", "the ", "--max-new-tokens", "15"]
    assert main(base + ["--greedy"]) == 0
    greedy = capsys.readouterr()
    assert "greedy" in greedy.err
    want = "the " + tok.decode(model.generate([tok.encode("the ")], 15, do_sample=False)[0, 4:].tolist())
    assert greedy.out == want + "\n"
    assert main(base + ["--greedy", "--stream"]) == 0
    assert capsys.readouterr().out == want + "\n"
    stop = want[6:8]
    assert main(base + ["--greedy", "--stop", stop]) == 0
    assert capsys.readouterr().out == want[:want.index(stop, 4) + len(stop)] + "\n"
    assert main(base + ["--num-return-sequences", "2", "--seed", "1"]) == 0
    assert capsys.readouterr().out.count("\n----\n") == 1


def test_pipeline_returns_each_sequence_and_ends_at_the_stop(model, tok, tmp_path):
    save_checkpoint(tmp_path / "ckpt", model, {"model_type": "gpt", "model": model.config.to_dict()},
                    tokenizer=tok)
    pipe = minitx.pipeline("text-generation", model=str(tmp_path / "ckpt"))
    three = pipe("the ", max_new_tokens=8, num_return_sequences=3, seed=2)
    assert len(three) == 3 and all(r["generated_text"].startswith("the ") for r in three)
    assert pipe(["the ", "a"], max_new_tokens=8, num_return_sequences=3, seed=2)[0] == three  # as alone
    greedy = pipe("the ", max_new_tokens=15, do_sample=False)[0]["generated_text"]
    stop = greedy[6:8]
    cut = pipe("the ", max_new_tokens=15, do_sample=False, stop_strings=[stop])[0]["generated_text"]
    assert cut == greedy[:greedy.index(stop, 4) + len(stop)]
