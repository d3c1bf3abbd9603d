"""Before the transformer, measured: bag-of-words, TF-IDF, n-grams, RNN and LSTM
against BERT and GPT, on the same text, on minitx.

    python benchmarks/baselines.py --seeds 3 --json runs/baselines.json --plot docs/img/baselines.png
    python benchmarks/baselines.py --quick --json F     every row in about a minute (CI)

All data is CPython's reference manual (minitx.data.builtin_documents):
(a) pages: which of the 20 largest manual pages a paragraph comes from (accuracy);
(b) order: a paragraph or the same words shuffled (accuracy; bag-of-words sees
    the same counts for both, so it must sit at 0.5);
(c) next character: validation loss in bits per character, and by how much
    context the model had (the loss at position t of a window);
(d) time of one training step (forward and backward) of an LSTM layer and of a
    self-attention layer as the sequence grows;
(e) the loss at each position t of a window (the curve behind (c)).
Each model trains from scratch per seed (a seed also redraws the train/validation
split); the table gives the mean and min..max over seeds. BERT is pretrained with
masked-LM on the same training paragraphs, then fine-tuned; it has no (c) row (it
reads both sides of a character, so it is no next-character model).
"""
import argparse
import json
import math
import os
import sys
import textwrap
import time
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parent)
sys.path.insert(1, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

import minitx  # noqa: E402
from baselines_models import (SPECIALS, BertClassifier, GPTModel, Recurrent, class_loss,  # noqa: E402
                              count_parameters, lm_loss, position_losses, predict, train)
from harness import cpu_flags, cpu_model  # noqa: E402
from minitx import nn  # noqa: E402
from minitx.baselines import CountVectorizer, LogisticRegression, NGramLM, TfidfVectorizer  # noqa: E402
from minitx.data import builtin_documents  # noqa: E402

MODELS = ["bag-of-words + logreg", "TF-IDF + logreg", "n-gram LM", "RNN", "LSTM", "BERT", "GPT"]
TASKS = {"pages": "accuracy", "order": "accuracy", "next-char": "bits/char"}
NO_ROW = {("next-char", "bag-of-words + logreg"), ("next-char", "TF-IDF + logreg"), ("next-char", "BERT")}
STEP_TIME_T = [64, 128, 256, 512, 1024]

FULL = dict(C=64, B=16, T=64, steps=100, pretrain=100, lm_T=128, lm_steps=150, n_pages=20, orders=8,
            val_windows=256, step_B=8, step_C=64, step_reps=5, logreg_iters=300)
QUICK = dict(C=32, B=8, T=32, steps=12, pretrain=8, lm_T=32, lm_steps=15, n_pages=20, orders=5,
             val_windows=32, step_B=2, step_C=32, step_reps=1, logreg_iters=40)


# ---- data ------------------------------------------------------------------------------
def paragraphs_by_page(min_words=20):
    """{page: [paragraph, ...]}, whitespace collapsed; a paragraph found on two pages is dropped
    (some pages repeat others' text), so the label of every paragraph is unique."""
    from pydoc_data.topics import topics     # the pages of minitx.data.builtin_documents, by name
    pages = {name: [" ".join(p.split()) for p in topics[name].split("\n\n")] for name in sorted(topics)}
    seen = {}
    for name, ps in pages.items():
        for p in set(ps):
            seen[p] = seen.get(p, 0) + 1
    return {name: [p for p in ps if seen[p] == 1 and len(p.split()) >= min_words] for name, ps in pages.items()}


class Alphabet:
    """Characters <-> ids; ids 0 .. SPECIALS - 1 are PAD, [CLS], [SEP], [MASK]."""

    def __init__(self, text):
        self.chars = sorted(set(text))
        self.index = {c: i + SPECIALS for i, c in enumerate(self.chars)}
        self.size = len(self.chars) + SPECIALS

    def encode(self, text):
        return np.array([self.index[c] for c in text], dtype=np.int64)

    def rows(self, texts, T):
        """The first T characters of each text, left-padded with PAD (id 0): (N, T)."""
        out = np.zeros((len(texts), T), dtype=np.int64)
        for i, t in enumerate(texts):
            ids = self.encode(t[:T])
            out[i, T - len(ids):] = ids
        return out


def first_words(paragraph, T):
    """The paragraph's first words, as many as fit in T characters (one word at least, cut to T):
    every model, bag-of-words included, reads the same text."""
    words, n = [], -1
    for w in paragraph.split():
        if n + 1 + len(w) > T and words:
            break
        words.append(w)
        n += 1 + len(w)
    return " ".join(words)[:T]


def pages_task(cfg, rng):
    """(train texts, train labels, val texts, val labels): the n_pages pages with the most
    paragraphs, a quarter of each page's paragraphs held out; each text a paragraph's first
    T characters."""
    by_page = {name: [first_words(p, cfg["T"]) for p in ps] for name, ps in paragraphs_by_page().items()}
    names = sorted(sorted(by_page, key=lambda n: -len(by_page[n]))[:cfg["n_pages"]])
    split = ([], [], [], [])
    for label, name in enumerate(names):
        ps = [by_page[name][i] for i in rng.permutation(len(by_page[name]))]
        n_val = max(1, len(ps) // 4)
        split[0].extend(ps[n_val:]), split[1].extend([label] * (len(ps) - n_val))
        split[2].extend(ps[:n_val]), split[3].extend([label] * n_val)
    return split[0], np.array(split[1]), split[2], np.array(split[3])


def order_task(cfg, rng):
    """Every paragraph's first T characters twice: as written (1) and the same words shuffled (0);
    both copies of a paragraph fall on the same side of the split."""
    ps = sorted(first_words(p, cfg["T"]) for page in paragraphs_by_page().values() for p in page)
    ps = [ps[i] for i in rng.permutation(len(ps))]
    n_val = len(ps) // 4

    def pairs(part):
        texts, labels = [], []
        for p in part:
            words = p.split()
            texts += [p, " ".join(words[i] for i in rng.permutation(len(words)))]
            labels += [1, 0]
        return texts, np.array(labels)
    return (*pairs(ps[n_val:]), *pairs(ps[:n_val]))


def lm_split():
    """The manual as one text: the first 90% to train on, the rest to validate."""
    text = "\n\n".join(builtin_documents()) + "\n"
    cut = int(len(text) * 0.9)
    return text[:cut], text[cut:]


# ---- (a), (b): classification -----------------------------------------------------------
def classify_rows(task, cfg, seed, alphabet, log):
    """{model: {value, params, train_s, tokens}} on task 'pages' or 'order' for one seed."""
    rng = np.random.default_rng(seed)
    train_x, train_y, val_x, val_y = (pages_task if task == "pages" else order_task)(cfg, rng)
    K, chars = int(train_y.max()) + 1, sum(len(t) for t in train_x)
    rows = {}
    for name, vectorizer in [("bag-of-words + logreg", CountVectorizer()), ("TF-IDF + logreg", TfidfVectorizer())]:
        start = time.perf_counter()
        X = vectorizer.fit_transform(train_x)
        clf = LogisticRegression(C=10.0, max_iter=cfg["logreg_iters"]).fit(X, train_y)
        seconds = time.perf_counter() - start
        rows[name] = dict(value=clf.score(vectorizer.transform(val_x), val_y), params=clf.linear_.num_parameters(),
                          train_s=seconds, tokens=chars)
    rows["n-gram LM"] = ngram_classifier(train_x, train_y, val_x, val_y, alphabet, task)
    T, C, B = cfg["T"], cfg["C"], cfg["B"]
    train_ids, val_ids = alphabet.rows(train_x, T), alphabet.rows(val_x, T)

    def batch(step):
        i = rng.integers(0, len(train_ids), B)
        return train_ids[i], train_y[i]
    for name in ("RNN", "LSTM", "GPT"):
        minitx.manual_seed(seed)
        model = GPTModel(alphabet.size, C, T, K) if name == "GPT" else Recurrent(name.lower(), alphabet.size, C, K)
        seconds, tokens = train(model, batch, class_loss, cfg["steps"], 3e-3)
        rows[name] = dict(value=float(np.mean(predict(model, val_ids) == val_y)), params=count_parameters(model),
                          train_s=seconds, tokens=tokens)
        log(f"seed {seed} {task} {name}: {rows[name]['value']:.3f} in {seconds:.0f} s")
    minitx.manual_seed(seed)
    bert = BertClassifier(alphabet.size, C, T, K, seed)
    seconds, tokens = bert.fit(train_ids, train_y, cfg["pretrain"], cfg["steps"], B, 1e-3, rng)
    rows["BERT"] = dict(value=float(np.mean(bert.predict(val_ids) == val_y)), params=count_parameters(bert.model),
                        train_s=seconds, tokens=tokens)
    return rows


def ngram_classifier(train_x, train_y, val_x, val_y, alphabet, task, n=5):
    """A character 5-gram LM used as a classifier. pages: one LM per page, the page whose LM
    gives the paragraph the highest likelihood (plus log prior). order: one LM of the real
    paragraphs; its mean log-likelihood per character, thresholded by a logistic regression."""
    start = time.perf_counter()
    V = alphabet.size
    encode = [alphabet.encode(t) for t in train_x]
    if task == "pages":
        K = int(train_y.max()) + 1
        lms = [NGramLM(n, V).fit([e for e, y in zip(encode, train_y) if y == k]) for k in range(K)]
        prior = np.log(np.bincount(train_y, minlength=K) / len(train_y))
        seconds = time.perf_counter() - start
        scores = np.array([[lm.log_prob(alphabet.encode(t)).sum() for lm in lms] for t in val_x]) + prior
        pred = scores.argmax(axis=1)
        params = sum(len(lm.counts_[m][0]) for lm in lms for m in lm.counts_)
    else:
        lm = NGramLM(n, V).fit([e for e, y in zip(encode, train_y) if y == 1])

        def feature(texts):
            return np.array([[lm.log_prob(alphabet.encode(t)).mean()] for t in texts])
        # the threshold is fitted on the training paragraphs, which the LM has seen and so
        # scores higher than new text: a biased threshold, kept simple (the page gives its cost)
        clf = LogisticRegression(C=100.0, max_iter=200, lr=0.5).fit(feature(train_x), train_y)
        seconds = time.perf_counter() - start
        pred = clf.predict(feature(val_x))
        params = sum(len(lm.counts_[m][0]) for m in lm.counts_) + 2
    return dict(value=float(np.mean(pred == val_y)), params=int(params), train_s=seconds,
                tokens=sum(len(t) for t in train_x))


# ---- (c), (e): next character ----------------------------------------------------------
def lm_rows(cfg, seed, alphabet, log):
    """({model: row}, {model: (T,) loss in bits at each position}, {order: bits}) for one seed."""
    rng = np.random.default_rng(seed)
    train_text, val_text = lm_split()
    train_ids, val_ids = alphabet.encode(train_text), alphabet.encode(val_text)
    T, B, C = cfg["lm_T"], cfg["B"], cfg["C"]
    starts = np.linspace(0, len(val_ids) - T - 1, cfg["val_windows"]).astype(int)
    windows = np.stack([val_ids[s:s + T + 1] for s in starts])           # (N, T + 1)
    rows, curves, orders = {}, {}, {}
    for n in range(1, cfg["orders"] + 1):                                 # the n-gram at every order
        start = time.perf_counter()
        lm = NGramLM(n, alphabet.size).fit([train_ids])
        seconds = time.perf_counter() - start
        # each window read alone, from its first character, as the neural models read it
        curve = -np.mean([lm.log_prob(w)[1:] for w in windows], axis=0) / math.log(2)     # (T,)
        orders[n] = float(curve.mean())
        if n == 5:
            rows["n-gram LM"] = dict(value=orders[n], params=sum(len(lm.counts_[m][0]) for m in lm.counts_),
                                     train_s=seconds, tokens=len(train_ids))
            curves["n-gram LM (n=5)"] = curve
    for name in ("RNN", "LSTM", "GPT"):
        minitx.manual_seed(seed)
        model = GPTModel(alphabet.size, C, T) if name == "GPT" else Recurrent(name.lower(), alphabet.size, C)

        def batch(step):
            s = rng.integers(0, len(train_ids) - T - 1, B)
            w = np.stack([train_ids[i:i + T + 1] for i in s])           # (B, T + 1)
            return w[:, :-1], w[:, 1:]
        seconds, tokens = train(model, batch, lm_loss, cfg["lm_steps"], 3e-3)
        curve = position_losses(model, windows) / math.log(2)
        rows[name] = dict(value=float(curve.mean()), params=count_parameters(model), train_s=seconds, tokens=tokens)
        log(f"seed {seed} next-char {name}: {rows[name]['value']:.3f} bits/char in {seconds:.0f} s")
        curves[name] = curve
    return rows, curves, orders


# ---- (d): time of a training step against T ---------------------------------------------
def step_times(cfg):
    """[{T, lstm_ms, attention_ms}]: forward + backward of one layer of width C on (B, T, C),
    the best of step_reps after a warm-up."""
    rng = np.random.default_rng(0)
    B, C = cfg["step_B"], cfg["step_C"]
    minitx.manual_seed(0)
    lstm, attention = nn.LSTM(C, C, batch_first=True), nn.SelfAttention(nn.BlockConfig(n_embd=C, n_head=4, causal=True))

    def best(layer, x):
        times = []
        for _ in range(cfg["step_reps"] + 1):
            start = time.perf_counter()
            y = layer(x)
            (y[0] if isinstance(y, tuple) else y).sum().backward()
            times.append(time.perf_counter() - start)
        return 1000 * min(times[1:])
    out = []
    for T in STEP_TIME_T:
        x = minitx.tensor(rng.standard_normal((B, T, C)).astype(np.float32), requires_grad=True)
        out.append(dict(T=T, lstm_ms=best(lstm, x), attention_ms=best(attention, x)))
    return out


# ---- the run ---------------------------------------------------------------------------------
def summarize(task, model, per_seed):
    values = [r["value"] for r in per_seed]
    train_s = float(np.mean([r["train_s"] for r in per_seed]))
    tokens = float(np.mean([r["tokens"] for r in per_seed]))
    return dict(task=task, model=model, metric=TASKS[task], mean=float(np.mean(values)), min=float(min(values)),
                max=float(max(values)), values=values, params=per_seed[0]["params"], train_s=train_s,
                tokens_per_s=tokens / train_s)


def run(cfg, seeds, log=print):
    alphabet = Alphabet("\n\n".join(builtin_documents()) + "\n")
    per_seed = {}                                        # (task, model) -> [row per seed]
    curves, orders = {}, {}
    for seed in range(seeds):
        for task in ("pages", "order"):
            for model, row in classify_rows(task, cfg, seed, alphabet, log).items():
                per_seed.setdefault((task, model), []).append(row)
            log(f"seed {seed}: {task} done")
        rows, c, o = lm_rows(cfg, seed, alphabet, log)
        for model, row in rows.items():
            per_seed.setdefault(("next-char", model), []).append(row)
        for model, curve in c.items():
            curves.setdefault(model, []).append(curve)
        for n, bits in o.items():
            orders.setdefault(n, []).append(bits)
        log(f"seed {seed}: next-char done")
    table = [summarize(task, model, per_seed[(task, model)])
             for task in TASKS for model in MODELS if (task, model) not in NO_ROW]
    curves = {m: np.mean(c, axis=0).tolist() for m, c in curves.items()}
    return dict(table=table, curves=curves, context=context_table(curves),
                ngram_orders={n: float(np.mean(b)) for n, b in orders.items()}, step_time=step_times(cfg))


def context_table(curves):
    """{model: {"t=a..b": mean bits over the positions whose context is a..b characters}}."""
    T = len(next(iter(curves.values())))
    bins, a = [], 1
    while 2 * a <= T:
        bins.append((a, 2 * a - 1))
        a *= 2
    bins[-1] = (bins[-1][0], T)                          # the last position joins the last bin
    return {m: {f"{lo}..{hi}": float(np.mean(c[lo - 1:hi])) for lo, hi in bins} for m, c in curves.items()}


def spread(row):
    return f"{row['mean']:.3f} ({row['min']:.3f}..{row['max']:.3f})"


def report(result, seeds):
    lines = [f"| task | model | value (min..max over {seeds} seed{'s' * (seeds > 1)}) | parameters | "
             "training s | tokens/s |", "|---|---|---|---:|---:|---:|"]
    for r in result["table"]:
        lines.append(f"| {r['task']} ({r['metric']}) | {r['model']} | {spread(r)} | {r['params']:,} | "
                     f"{r['train_s']:.1f} | {r['tokens_per_s']:,.0f} |")
    bins = list(next(iter(result["context"].values())))
    lines += ["", "next-char, bits/char by context length (characters before the one predicted):", "",
              "| model | " + " | ".join(bins) + " |", "|---|" + "---:|" * len(bins)]
    for m, by_bin in result["context"].items():
        lines.append(f"| {m} | " + " | ".join(f"{v:.3f}" for v in by_bin.values()) + " |")
    lines += ["", "n-gram order n (context n - 1): " + ", ".join(
        f"n={n} {b:.3f}" for n, b in result["ngram_orders"].items()) + " bits/char", "",
        "| T | LSTM layer, ms | self-attention layer, ms | LSTM / attention |", "|---:|---:|---:|---:|"]
    for r in result["step_time"]:
        lines.append(f"| {r['T']} | {r['lstm_ms']:.1f} | {r['attention_ms']:.1f} | "
                     f"{r['lstm_ms'] / r['attention_ms']:.2f} |")
    return "\n".join(lines)


def plot(result, path, title):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.5))
    for m, curve in result["curves"].items():
        ax1.plot(np.arange(1, len(curve) + 1), curve, label=m)
    ax1.set_xscale("log")
    ax1.set_xlabel("context: characters before the one predicted (t)")
    ax1.set_ylabel("validation loss at position t, bits/char")
    ax1.set_title("(e) how far back each model uses context")
    ax1.legend()
    T = [r["T"] for r in result["step_time"]]
    ax2.plot(T, [r["lstm_ms"] for r in result["step_time"]], "o-", label="LSTM layer")
    ax2.plot(T, [r["attention_ms"] for r in result["step_time"]], "o-", label="self-attention layer")
    ax2.set_xscale("log", base=2)
    ax2.set_yscale("log")
    ax2.set_xlabel("sequence length T")
    ax2.set_ylabel("forward + backward, ms")
    ax2.set_title("(d) one training step of one layer")
    ax2.legend()
    fig.suptitle(textwrap.fill(title, 150), fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="tiny models and few steps: every row in about a minute")
    p.add_argument("--seeds", type=int, default=None, help="seeds per model (default 3, 1 with --quick)")
    p.add_argument("--steps", type=int, default=None, help="training steps of the classifiers (and BERT's pretraining)")
    p.add_argument("--lm-steps", type=int, default=None, help="training steps of the character LMs")
    p.add_argument("--json", metavar="FILE", help="write the results as JSON")
    p.add_argument("--plot", metavar="FILE.png", help="plot (d) and (e) (needs matplotlib)")
    args = p.parse_args(argv)
    cfg = dict(QUICK if args.quick else FULL)
    if args.steps:
        cfg["steps"] = cfg["pretrain"] = args.steps
    if args.lm_steps:
        cfg["lm_steps"] = args.lm_steps
    seeds = args.seeds or (1 if args.quick else 3)
    if seeds < 1:
        p.error(f"--seeds {seeds}: expected at least 1")
    start = time.perf_counter()
    result = run(cfg, seeds, log=lambda s: print(s, file=sys.stderr, flush=True))
    machine = f"{cpu_model()} ({' '.join(cpu_flags())}), {os.cpu_count()} cores"
    result.update(config=cfg, seeds=seeds, machine=machine, seconds=time.perf_counter() - start,
                  command="python benchmarks/baselines.py " + " ".join(sys.argv[1:] if argv is None else argv))
    print(f"{machine}; {seeds} seed(s); {result['seconds']:.0f} s\n")
    print(report(result, seeds))
    for path in (args.json, args.plot):
        if path:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    if args.plot:
        plot(result, args.plot, f"{result['command']}  ({machine})")


if __name__ == "__main__":
    main()
