"""Pipelines against transformers on the same Hugging Face folders.

Each folder is a small randomly initialised BERT with one head, saved by
transformers, with a real vocabulary: tests/data/bert-base-uncased-vocab.txt is
the vocab.txt of Google's bert-base-uncased (30522 WordPieces, Apache-2.0, as
published with the checkpoint on the Hugging Face Hub), and the texts are English
with mixed case, accents, punctuation and words split into pieces. Head weights
are scaled up so the random heads give confident, varied labels. fill-mask, text-classification,
token-classification and feature-extraction run transformers' own pipelines;
question-answering, which transformers 5 dropped, is transformers 4's decoding
written out below over transformers' model and fast tokenizer (its offsets,
word ids and overflowing windows).
text-generation compares greedy continuations on a GPT-2 folder.
"""
import warnings
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="parity tests need PyTorch (pip install .[parity])")
transformers = pytest.importorskip("transformers", reason="parity tests need transformers")

from minitx import pipeline
from minitx.data import builtin_documents
from minitx.tokenizers import WordPieceTokenizer

MAX_LEN = 48
VOCAB = Path(__file__).parent / "data" / "bert-base-uncased-vocab.txt"
TAGS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "MISC"]
TEXTS = ["The Quick brown fox jumps over Paris.", "Alan Turing was born in London in 1912!",
         "Unaffable résumés of naïve Zürich", "Crème brûlée, s'il vous plaît — said Mr. O'Neil's café-bar owner.",
         "ÉCOLE NORMALE SUPÉRIEURE (Paris) hosted 1,000 students; unbelievably, e-mail was banned.",
         "xqzv", "Paris [MASK] London [UNK] Rome"]


@pytest.fixture(scope="module")
def vocab():
    return VOCAB


def test_the_vocabulary_is_bert_base_uncased():
    lines = VOCAB.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 30522
    assert [lines[i] for i in (0, 100, 101, 102, 103, 1996, 2003)] == [
        "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "is"]


def test_tokenizer_ids_and_offsets_equal_the_fast_tokenizers():
    ours = WordPieceTokenizer.from_vocab_file(VOCAB)
    theirs = transformers.BertTokenizerFast(vocab=str(VOCAB))
    texts = TEXTS + ["北京 and 東京 in 2008", "Ωmega straße İstanbul ﬁnance x² ½", "emoji 😀 tab\tnew\nline",
                     "a\u0301ccent \u00a0nbsp\u200bzero", "don't can't I'm", "“smart” ‘quotes’ «guillemets»"]
    for text in texts:
        got, want = ours.encode(text, return_offsets_mapping=True), theirs(text, return_offsets_mapping=True)
        assert got.input_ids == want["input_ids"], text
        assert [tuple(o) for o in got.offset_mapping] == [tuple(o) for o in want["offset_mapping"]], text
    got = ours.encode_batch(TEXTS[:3], TEXTS[3:6], return_offsets_mapping=True)
    want = theirs(TEXTS[:3], TEXTS[3:6], padding="longest", return_offsets_mapping=True)
    for key in ("input_ids", "token_type_ids", "attention_mask", "offset_mapping"):
        np.testing.assert_array_equal(getattr(got, key), np.array(want[key]), err_msg=key)


def make_folder(root, cls, vocab, scale=1.0, **kw):
    import shutil
    n = len(vocab.read_text(encoding="utf-8").splitlines())
    torch.manual_seed(0)
    config = transformers.BertConfig(vocab_size=n, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                     intermediate_size=64, max_position_embeddings=MAX_LEN, **kw)
    model = cls(config).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            # the heads, and the MLM head's LayerNorm, whose output the tied decoder reads
            if name.startswith(("classifier", "qa_outputs", "cls.predictions.transform.LayerNorm.weight")):
                p.mul_(scale)
    model.save_pretrained(root)
    shutil.copy(vocab, root / "vocab.txt")
    tok = transformers.BertTokenizerFast(vocab=str(vocab), model_max_length=MAX_LEN)
    tok.save_pretrained(root)
    return root


def hf_pipe(task, folder):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return transformers.pipeline(task, model=str(folder), tokenizer=str(folder), device="cpu")


def close(ours, theirs):
    """Equal results: strings and ints exactly, scores to 1e-5."""
    if isinstance(theirs, list):
        assert isinstance(ours, list) and len(ours) == len(theirs), (ours, theirs)
        for a, b in zip(ours, theirs):
            close(a, b)
    elif isinstance(theirs, dict):
        assert set(ours) == set(theirs), (ours, theirs)
        for k in theirs:
            close(ours[k], theirs[k])
    elif isinstance(theirs, float) or hasattr(theirs, "dtype"):
        assert abs(float(ours) - float(theirs)) <= 1e-5, (ours, theirs)
    else:
        assert ours == theirs


def test_fill_mask_top5_tokens_and_scores(tmp_path, vocab):
    folder = make_folder(tmp_path, transformers.BertForMaskedLM, vocab, scale=60.0)
    ours, theirs = pipeline("fill-mask", model=folder), hf_pipe("fill-mask", folder)
    texts = ["The capital of [MASK] is Paris.", "a [MASK] of the [MASK] kind",
             "Zürich's naïve café served [MASK] brûlée, unbelievably!"]
    for text in texts:
        close(ours(text), theirs(text))
    close(ours(texts, top_k=3), theirs(texts, top_k=3))


@pytest.mark.parametrize("problem_type", [None, "multi_label_classification"])
def test_text_classification_labels_and_scores(tmp_path, vocab, problem_type):
    labels = {0: "negative", 1: "neutral", 2: "positive"}
    folder = make_folder(tmp_path, transformers.BertForSequenceClassification, vocab, scale=20.0,
                         id2label=labels, label2id={v: k for k, v in labels.items()}, problem_type=problem_type)
    ours, theirs = pipeline("text-classification", model=folder), hf_pipe("text-classification", folder)
    close(ours(TEXTS[0]), theirs(TEXTS[0]))
    close(ours(TEXTS), theirs(TEXTS))
    close(ours(TEXTS[1], top_k=None), theirs(TEXTS[1], top_k=None))
    close(ours(TEXTS, top_k=2), theirs(TEXTS, top_k=2))


@pytest.mark.parametrize("strategy", ["none", "simple", "first", "average", "max"])
def test_token_classification_entities_words_and_offsets(tmp_path, vocab, strategy):
    labels = dict(enumerate(TAGS))
    folder = make_folder(tmp_path, transformers.BertForTokenClassification, vocab, scale=30.0,
                         id2label=labels, label2id={v: k for k, v in labels.items()})
    ours = pipeline("token-classification", model=folder, aggregation_strategy=strategy)
    theirs = hf_pipe("token-classification", folder)
    got, want = ours(TEXTS), theirs(TEXTS, aggregation_strategy=strategy)
    assert any(want), "the random head should tag something"
    close(got, want)


def test_feature_extraction_per_token_and_mean(tmp_path, vocab):
    folder = make_folder(tmp_path, transformers.BertModel, vocab)
    ours, theirs = pipeline("feature-extraction", model=folder), hf_pipe("feature-extraction", folder)
    for text in TEXTS[:2]:
        np.testing.assert_allclose(np.array(ours(text)), np.array(theirs(text)), atol=1e-5)
    mean = np.array(ours(TEXTS, pooling="mean"))
    np.testing.assert_allclose(mean, [np.mean(theirs(t)[0], axis=0) for t in TEXTS], atol=1e-5)


# ---- question answering: transformers 4's decoding, written out --------------------

def qa_reference(folder, question, context, top_k=1, max_answer_len=15, doc_stride=None, impossible=False):
    """transformers 4's QuestionAnsweringPipeline on a fast tokenizer, step by step."""
    tok = transformers.AutoTokenizer.from_pretrained(str(folder))
    model = transformers.BertForQuestionAnswering.from_pretrained(str(folder)).eval()
    max_seq_len = min(tok.model_max_length, 384)
    doc_stride = min(max_seq_len // 2, 128) if doc_stride is None else doc_stride
    enc = tok(question, context, truncation="only_second", max_length=max_seq_len, stride=doc_stride,
              return_overflowing_tokens=True, return_offsets_mapping=True, padding="longest", return_tensors="pt")
    enc.pop("offset_mapping")  # the answer's characters come from word_to_chars below
    enc.pop("overflow_to_sample_mapping")
    with torch.no_grad():
        out = model(**enc)
    answers, min_null = [], 1e6
    for w in range(len(enc["input_ids"])):
        seq_ids = enc.sequence_ids(w)
        p_mask = np.array([s != 1 for s in seq_ids], dtype=int)
        p_mask[0] = 0  # [CLS] stays, for the null answer
        desired = np.abs(p_mask - 1) & enc["attention_mask"][w].numpy()
        start = np.where(desired == 0, -10000.0, out.start_logits[w].numpy().astype(np.float64))
        end = np.where(desired == 0, -10000.0, out.end_logits[w].numpy().astype(np.float64))
        start = np.exp(start - start.max()); start /= start.sum()
        end = np.exp(end - end.max()); end /= end.sum()
        if impossible:
            min_null = min(min_null, start[0] * end[0])
        start[0] = end[0] = 0.0
        cand = np.tril(np.triu(np.outer(start, end)), max_answer_len - 1)
        flat = cand.flatten()
        best = np.argsort(-flat)[:top_k]
        s_idx, e_idx = np.unravel_index(best, cand.shape)
        keep = np.isin(s_idx, desired.nonzero()) & np.isin(e_idx, desired.nonzero())
        for s, e in zip(s_idx[keep], e_idx[keep]):
            word_s, word_e = enc.token_to_word(w, s), enc.token_to_word(w, e)
            lo = enc.word_to_chars(w, word_s, sequence_index=1)[0]
            hi = enc.word_to_chars(w, word_e, sequence_index=1)[1]
            answers.append({"score": float(cand[s, e]), "start": lo, "end": hi, "answer": context[lo:hi]})
    if impossible:
        answers.append({"score": float(min_null), "start": 0, "end": 0, "answer": ""})
    answers = sorted(answers, key=lambda a: a["score"], reverse=True)[:top_k]
    return answers[0] if top_k == 1 else answers


@pytest.fixture(scope="module")
def qa_folder(tmp_path_factory, vocab):
    return make_folder(tmp_path_factory.mktemp("qa"), transformers.BertForQuestionAnswering, vocab, scale=10.0)


def test_question_answering_answer_and_offsets(qa_folder):
    ours = pipeline("question-answering", model=qa_folder)
    question, context = "Where was Alan Turing born?", " ".join(TEXTS[1:4])
    close(ours(question=question, context=context), qa_reference(qa_folder, question, context))
    close(ours(question=question, context=context, top_k=3, handle_impossible_answer=True),
          qa_reference(qa_folder, question, context, top_k=3, impossible=True))


def test_question_answering_long_context_in_windows(qa_folder):
    ours = pipeline("question-answering", model=qa_folder)
    context = " ".join(builtin_documents()[3].split()[:150])
    question = "What is it?"
    got = ours(question=question, context=context, top_k=4, doc_stride=10)
    assert ours.notes[0]["windows"] > 3
    close(got, qa_reference(qa_folder, question, context, top_k=4, doc_stride=10))


def test_text_generation_greedy_on_a_gpt2_folder(tmp_path):
    """A GPT-2 folder saved by transformers, with a byte-level BPE tokenizer.json:
    greedy continuations equal transformers' text-generation pipeline."""
    from minitx.tokenizers import BPETokenizer
    bpe = BPETokenizer.train("\n".join(builtin_documents()[:2]), 300)
    torch.manual_seed(0)
    config = transformers.GPT2Config(vocab_size=bpe.vocab_size, n_positions=64, n_embd=32, n_layer=2, n_head=2,
                                     bos_token_id=bpe.vocab_size - 1, eos_token_id=bpe.vocab_size - 1)
    transformers.GPT2LMHeadModel(config).save_pretrained(tmp_path)
    bpe.save(tmp_path / "tokenizer.json")
    (tmp_path / "tokenizer_config.json").write_text('{"tokenizer_class": "PreTrainedTokenizerFast"}')
    prompts = ["The if statement", "A function is"]
    ours = pipeline("text-generation", model=tmp_path)(prompts, max_new_tokens=12, do_sample=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = hf_pipe("text-generation", tmp_path)
        want = [theirs(p, max_new_tokens=12, do_sample=False) for p in prompts]
    assert ours == want


def test_question_answering_default_stride_and_a_batch(qa_folder):
    ours = pipeline("question-answering", model=qa_folder)
    context = " ".join(builtin_documents()[5].split()[:80]) + " Zürich's naïve café."
    questions = ["Which city?", "What is the café like?"]
    got = ours(question=questions, context=context, top_k=2, handle_impossible_answer=True)
    close(got, [qa_reference(qa_folder, q, context, top_k=2, impossible=True) for q in questions])


@pytest.mark.parametrize("multi_label", [False, True])
def test_zero_shot_classification_labels_and_scores(tmp_path, vocab, multi_label):
    """An NLI head (contradiction, neutral, entailment): the entailment logit of each
    "This example is {label}." scores the label, as transformers' pipeline does."""
    nli = {0: "contradiction", 1: "neutral", 2: "entailment"}
    folder = make_folder(tmp_path, transformers.BertForSequenceClassification, vocab, scale=20.0,
                         id2label=nli, label2id={v: k for k, v in nli.items()})
    ours, theirs = pipeline("zero-shot-classification", model=folder), hf_pipe("zero-shot-classification", folder)
    labels = ["travel", "cooking", "dancing", "politics"]
    for text in TEXTS[:4]:
        close(ours(text, candidate_labels=labels, multi_label=multi_label),
              theirs(text, candidate_labels=labels, multi_label=multi_label))
    close(ours(TEXTS[:3], "sport, food", hypothesis_template="It is about {}.", multi_label=multi_label),
          theirs(TEXTS[:3], "sport, food", hypothesis_template="It is about {}.", multi_label=multi_label))
    close(ours(TEXTS[4], candidate_labels=["science"]), theirs(TEXTS[4], candidate_labels=["science"]))


def test_fill_mask_targets(tmp_path, vocab, caplog):
    """targets= restricts the answers to those tokens (scores not renormalized, top_k at
    most their number); a word that is no token stands for its first piece, with a warning."""
    folder = make_folder(tmp_path, transformers.BertForMaskedLM, vocab, scale=60.0)
    ours, theirs = pipeline("fill-mask", model=folder), hf_pipe("fill-mask", folder)
    texts = ["The capital of [MASK] is Paris.", "a [MASK] of the [MASK] kind"]
    for targets in (["paris", "london", "the", "##s", "kind"], "rome"):
        close(ours(texts, targets=targets), theirs(texts, targets=targets))
        close(ours(texts[0], targets=targets, top_k=2), theirs(texts[0], targets=targets, top_k=2))
    with pytest.warns(UserWarning, match="'unaffable' is no token of the vocabulary; its first piece 'una'"):
        got = ours(texts[0], targets=["unaffable", "paris"])
    close(got, theirs(texts[0], targets=["unaffable", "paris"]))
    with pytest.raises(ValueError, match="name no token"):
        ours(texts[0], targets=[])
    with pytest.raises(TypeError, match="fill-mask: unknown option 'target' \\(its options: top_k, targets\\)"):
        ours(texts[0], target="paris")
