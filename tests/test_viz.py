"""minitx.viz: each picture is a Figure with the expected panels and labels, a real
PNG when given a path, and a one-line error for a wrong shape; the distributions of
the sampling picture are the ones next_token draws from."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from minitx import viz
from minitx.models.gpt.sampling import filtered_probs, next_token
from minitx.nn.functional import sinusoidal_position_encoding
from minitx.viz.sampling import entropy_bits, sampling_panels

ROOT = Path(__file__).resolve().parent.parent


def is_png(path):
    data = Path(path).read_bytes()
    return data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 1000


def one_line_error(call, *match):
    with pytest.raises(ValueError) as info:
        call()
    message = str(info.value)
    assert "\n" not in message and all(m in message for m in match), message


def panels(fig, xlabel):
    return [ax for ax in fig.axes if ax.get_xlabel() == xlabel]


def causal_weights(NH, T, seed=0):
    w = np.tril(np.random.default_rng(seed).random((NH, T, T)))
    return w / w.sum(-1, keepdims=True)  # (NH, T, T), rows sum to 1


# ---- matplotlib stays optional ----------------------------------------------------------
def test_import_minitx_never_imports_matplotlib_and_viz_draws_without_pyplot():
    code = ("import sys, minitx, minitx.models.gpt, minitx.training, minitx.cli\n"
            "assert 'matplotlib' not in sys.modules, 'import minitx imported matplotlib'\n"
            "from minitx import viz\n"
            "viz.position_encoding_map(minitx.nn.functional.sinusoidal_position_encoding(8, 4).data)\n"
            "assert 'matplotlib.pyplot' not in sys.modules\n")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_without_matplotlib_the_import_error_says_what_to_install():
    code = "import sys\nsys.modules['matplotlib'] = None\nimport minitx.viz\n"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    last = done.stderr.strip().splitlines()[-1]
    assert done.returncode == 1 and last.startswith("ImportError: ") and "pip install minitx[viz]" in last, done.stderr
    assert "During handling" not in done.stderr   # one error, not a chain


# ---- attention_map -----------------------------------------------------------------------
def test_attention_map_of_heads(tmp_path):
    tokens = list("ab c\nd")
    fig = viz.attention_map(causal_weights(3, 6), tokens, path=tmp_path / "a.png", title="layer 0")
    assert isinstance(fig, Figure) and isinstance(fig.canvas, FigureCanvasAgg)
    heads = panels(fig, "key")
    assert [ax.get_title() for ax in heads] == ["head 0", "head 1", "head 2"]
    assert all(ax.get_ylabel() == "query" for ax in heads)
    shown = ["a", "b", "␣", "c", "\\n", "d"]
    assert [t.get_text() for t in heads[0].get_xticklabels()] == shown
    assert [t.get_text() for t in heads[0].get_yticklabels()] == shown
    # rows are queries: the image is the weights as given, not transposed
    np.testing.assert_array_equal(heads[1].get_images()[0].get_array(), causal_weights(3, 6)[1])
    assert fig.get_suptitle() == "layer 0"
    assert is_png(tmp_path / "a.png")


def test_attention_map_of_one_head():
    fig = viz.attention_map(causal_weights(1, 4)[0], ["w", "x", "y", "z"])
    assert len(panels(fig, "key")) == 1


def test_attention_map_rejects_wrong_shapes():
    one_line_error(lambda: viz.attention_map(np.ones((2, 3)), list("ab")), "(T, T) or (NH, T, T)", "(2, 3)")
    one_line_error(lambda: viz.attention_map(np.ones(4), list("abcd")), "(4,)")
    one_line_error(lambda: viz.attention_map(np.ones((2, 1, 3, 3)), list("abc")), "(2, 1, 3, 3)")
    one_line_error(lambda: viz.attention_map(causal_weights(2, 3), list("ab")), "2 tokens", "T = 3")


# ---- position tables ---------------------------------------------------------------------
def test_position_encoding_map(tmp_path):
    table = sinusoidal_position_encoding(32, 16).data
    fig = viz.position_encoding_map(table, path=tmp_path / "p.png")
    (ax,) = panels(fig, "channel")
    assert ax.get_ylabel() == "position" and "T=32, C=16" in ax.get_title()
    np.testing.assert_array_equal(ax.get_images()[0].get_array(), table)
    assert is_png(tmp_path / "p.png")


def test_sinusoidal_similarity_depends_on_distance_alone(tmp_path):
    T, C = 40, 16
    fig = viz.position_similarity(sinusoidal_position_encoding(T, C).data, path=tmp_path / "s.png")
    (curves,) = panels(fig, "distance j - i")
    lines = curves.get_lines()
    assert len(lines) == 4 and curves.get_ylabel() == "p_i · p_j"
    at = [dict(zip(line.get_xdata(), line.get_ydata())) for line in lines]
    for d in range(-10, 11):   # every reference position sees the same value at distance d
        values = [points[d] for points in at if d in points]
        assert len(values) >= 2
        np.testing.assert_allclose(values, values[0], atol=1e-5)
    for points in at:   # the peak, at distance 0: C/2 frequencies of sin^2 + cos^2
        assert max(points.values()) == points[0] == pytest.approx(C / 2, rel=1e-5)
    far = np.mean([v for d, v in at[0].items() if d >= 10])
    assert far < at[0][1] < at[0][0]   # and it decays with distance
    assert is_png(tmp_path / "s.png")


def test_similarity_of_a_learned_table_is_its_gram_matrix():
    wpe = np.random.default_rng(0).normal(size=(12, 8))   # (T, C), like GPT's wpe
    fig = viz.position_similarity(wpe)
    (matrix,) = panels(fig, "position j")
    np.testing.assert_allclose(matrix.get_images()[0].get_array(), wpe @ wpe.T)


def test_position_pictures_reject_wrong_shapes():
    one_line_error(lambda: viz.position_encoding_map(np.ones(5)), "(T, C)", "(5,)")
    one_line_error(lambda: viz.position_similarity(np.ones((1, 4))), "T >= 2", "(1, 4)")
    one_line_error(lambda: viz.position_similarity(np.ones((2, 3, 4))), "(2, 3, 4)")


# ---- what generation samples from ---------------------------------------------------------
distinct_logits = st.lists(st.integers(-400, 400), min_size=2, max_size=40, unique=True).map(
    lambda xs: np.array(xs) / 40.0)   # (V,), at least 0.025 apart: no ties


@given(distinct_logits, st.floats(0.2, 3.0), st.data())
def test_filtered_probs_sum_to_one_and_keep_exactly_top_k(logits, temperature, data):
    k = data.draw(st.integers(1, len(logits)))
    probs = filtered_probs(logits, temperature, top_k=k)
    assert probs.sum() == pytest.approx(1.0)
    kept = np.flatnonzero(probs)
    assert sorted(kept) == sorted(np.argsort(-logits)[:k])
    # the kept tokens keep their relative odds: softmax(logits / temperature) over them
    expected = np.exp((logits[kept] - logits[kept].max()) / temperature)
    np.testing.assert_allclose(probs[kept], expected / expected.sum(), rtol=1e-9)


@given(distinct_logits, st.floats(0.01, 1.0))
def test_filtered_probs_keep_the_smallest_set_reaching_top_p(logits, top_p):
    base = filtered_probs(logits)
    probs = filtered_probs(logits, top_p=top_p)
    assert probs.sum() == pytest.approx(1.0)
    kept = probs > 0
    assert base[kept].min() > base[~kept].max(initial=-1)     # the most likely tokens
    mass = base[kept].sum()
    assert mass >= top_p - 1e-12                              # reaches top_p
    assert mass - base[kept].min() < top_p + 1e-12            # without its least likely one, it does not
    np.testing.assert_allclose(probs[kept], base[kept] / mass, rtol=1e-12)


def test_next_token_draws_from_filtered_probs():
    """next_token's draws, with evenly spaced uniforms, land in proportion to filtered_probs."""
    class GridRng:
        def random(self, shape):
            return ((np.arange(shape[0]) + 0.5) / shape[0]).reshape(shape)

    logits = np.random.default_rng(1).normal(size=12) * 2   # (V,)
    B = 20_000
    for kwargs in ({"temperature": 0.7}, {"top_k": 4}, {"top_p": 0.8}, {"temperature": 1.5, "top_p": 0.6}):
        ids = next_token(np.tile(logits, (B, 1)), rng=GridRng(), **kwargs)
        np.testing.assert_allclose(np.bincount(ids, minlength=12) / B, filtered_probs(logits, **kwargs),
                                   atol=1e-3, err_msg=str(kwargs))


def test_entropy_in_bits():
    assert entropy_bits(np.full(8, 1 / 8)) == pytest.approx(3.0)
    assert entropy_bits(np.array([0.5, 0.5, 0.0])) == pytest.approx(1.0)


def test_entropy_falls_as_temperature_falls():
    logits = np.random.default_rng(2).normal(size=30) * 2
    temperatures = (0.25, 0.5, 0.8, 1.0, 1.5, 3.0)
    entropies = [p["entropy"] for p in sampling_panels(logits, temperatures, (), ())]
    assert all(a < b for a, b in zip(entropies, entropies[1:])), entropies
    assert entropies[-1] < np.log2(30)   # never above the uniform's


def test_kept_mass_is_the_unfiltered_mass_of_the_kept_tokens():
    logits = np.log(np.array([0.4, 0.3, 0.2, 0.1]))
    panels_ = {p["title"]: p for p in sampling_panels(logits, (0.5,), (2,), (0.65,))}
    assert panels_["temperature 0.5"]["kept"] == pytest.approx(1.0)
    assert panels_["top-k 2"]["kept"] == pytest.approx(0.7)
    assert panels_["top-p 0.65"]["kept"] == pytest.approx(0.7)   # 0.4 + 0.3 is the first to reach 0.65
    np.testing.assert_allclose(panels_["top-k 2"]["probs"], [4 / 7, 3 / 7, 0, 0])


def test_sampling_distributions_figure(tmp_path):
    logits = np.random.default_rng(3).normal(size=26) * 2
    tokens = [chr(ord("a") + i) for i in range(25)] + [" "]
    fig = viz.sampling_distributions(logits, tokens, temperatures=(0.5, 1.0), top_k=(3,), top_p=(0.9,),
                                     path=tmp_path / "s.png", shown=10)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    expected = sampling_panels(logits, (0.5, 1.0), (3,), (0.9,))
    assert len(titles) == 4
    for title, panel in zip(titles, expected):
        assert title == f"{panel['title']}\nH = {panel['entropy']:.2f} bits, kept {panel['kept']:.1%}"
    first = [ax for ax in fig.axes if ax.get_title()][0]
    order = np.argsort(-logits)[:10]
    assert [t.get_text() for t in first.get_xticklabels()] == [tokens[i] if tokens[i] != " " else "␣" for i in order]
    bars = first.patches[10:]   # the second set: the distribution at temperature 0.5
    np.testing.assert_allclose([b.get_height() for b in bars], filtered_probs(logits, 0.5)[order])
    assert is_png(tmp_path / "s.png")


def test_one_value_or_none_is_a_setting():
    logits = np.random.default_rng(4).normal(size=9)
    fig = viz.sampling_distributions(logits, temperatures=0.7, top_k=None, top_p=0.8)
    assert [ax.get_title().split("\n")[0] for ax in fig.axes if ax.get_title()] == ["temperature 0.7", "top-p 0.8"]


def test_sampling_distributions_rejects_bad_input():
    one_line_error(lambda: viz.sampling_distributions(np.ones((2, 5))), "(V,)", "(2, 5)")
    one_line_error(lambda: viz.sampling_distributions(np.ones(5), tokens=list("abc")), "3 tokens", "V = 5")
    one_line_error(lambda: viz.sampling_distributions(np.ones(5), temperatures=(), top_k=(), top_p=()),
                   "no temperature, top_k or top_p")
    with pytest.raises(ValueError, match="top_p must be in"):
        viz.sampling_distributions(np.ones(5), top_p=(1.5,))


# ---- loss_curves ------------------------------------------------------------------------
RECORDS = [{"event": "eval", "step": 0, "val_loss": 4.0, "train_loss": None},
           {"event": "train", "step": 10, "loss": 3.0, "lr": 1e-3},
           {"event": "train", "step": 20, "loss": 2.5, "lr": 1e-3},
           {"event": "eval", "step": 20, "val_loss": 2.6, "train_loss": 2.7}]


def test_loss_curves_from_records_and_from_a_run_folder(tmp_path):
    fig = viz.loss_curves(RECORDS, path=tmp_path / "l.png")
    (ax,) = panels(fig, "step")
    train, val = ax.get_lines()
    assert (list(train.get_xdata()), list(train.get_ydata())) == ([10, 20], [3.0, 2.5])
    assert (list(val.get_xdata()), list(val.get_ydata())) == ([0, 20], [4.0, 2.6])
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["train loss", "validation loss"]
    assert is_png(tmp_path / "l.png")
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in RECORDS))
    for source in (tmp_path / "run", str(tmp_path / "run" / "metrics.jsonl")):
        (ax,) = panels(viz.loss_curves(source), "step")
        assert list(ax.get_lines()[1].get_ydata()) == [4.0, 2.6]


def test_loss_curves_rejects_what_holds_no_losses(tmp_path):
    one_line_error(lambda: viz.loss_curves([{"event": "other"}]), "no train or eval records")
    one_line_error(lambda: viz.loss_curves(tmp_path), "metrics.jsonl does not exist")
