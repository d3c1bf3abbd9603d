"""Line charts as SVG text: axes with ticks at round numbers, a linear or log y axis,
one polyline per series, a legend. No plotting library: the page that holds them is
one self-contained file.

A chart is drawn in a fixed viewBox (W x H user units) and scaled to its box by the
page's CSS, so the same markup reads on a wide and a narrow window.
"""
import math
from html import escape
from typing import NamedTuple, Optional, Sequence

# Tableau's ten colours: told apart by most eyes, including the common colour-blind ones
PALETTE = ("#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7",
           "#9c755f", "#bab0ac")
W, H = 440, 250
# the plot area's margins, in user units; the left one is as wide as the longest y label
RIGHT, TOP, BOTTOM = 14, 10, 34
FONT, CHAR = 13, 7.4                            # the font size, and about the width of one of its digits
LEGEND_LEFT = 30                                # where the legend's rows start
MAX_POINTS = 1200                               # a longer series is thinned (thin) before drawing
MARKERS_UP_TO = 25                              # a series this short gets a dot at each point


class Line(NamedTuple):
    label: str
    xs: Sequence[float]
    ys: Sequence[float]
    color: Optional[str] = None


# ---- ticks ------------------------------------------------------------------------------

def nice_step(span, count=5):
    """The tick step of about `count` intervals over `span`: 1, 2 or 5 times a power of
    ten, whichever is nearest span / count on a log scale."""
    raw = span / count
    power = 10.0 ** math.floor(math.log10(raw))
    return min((m * power for m in (1, 2, 5, 10)), key=lambda step: abs(math.log(step / raw)))


def nice_ticks(lo, hi, count=5, integer=False):
    """(ticks, step): the multiples of a round step in [lo, hi] (lo < hi); integer=True
    keeps the step a whole number (steps of training)."""
    step = nice_step(hi - lo, count)
    if integer:
        step = max(1.0, round(step))
    first = math.ceil(lo / step - 1e-9)
    ticks = []
    k = first
    while k * step <= hi + 1e-9 * step:
        ticks.append(_clean(k * step, step))
        k += 1
    return ticks, step


def log_ticks(lo, hi):
    """Ticks for a log axis over [lo, hi] (0 < lo < hi): the powers of ten, with 2 and 5
    times them over up to three decades, and every integer multiple under about one."""
    decades = math.log10(hi / lo)
    multiples = range(1, 10) if decades <= 1.2 else (1, 2, 5) if decades <= 3 else (1,)
    ticks = [m * 10.0 ** d for d in range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1)
             for m in multiples]
    ticks = [_clean(t, t / 10) for t in ticks if lo * (1 - 1e-9) <= t <= hi * (1 + 1e-9)]
    return ticks if len(ticks) >= 2 else nice_ticks(lo, hi)[0]


def format_tick(value, step):
    """A tick's label with the decimals its step needs: 0.25, 3, 12k, 1.5M, 2e-05."""
    if value == 0:
        return "0"
    if abs(step) >= 1000 and abs(value) >= 1000:
        for unit, scale in (("M", 1e6), ("k", 1e3)):
            if abs(value) >= scale:
                return format_tick(value / scale, step / scale) + unit
    decimals = max(0, -math.floor(math.log10(abs(step)) + 1e-9)) if step else 3
    if decimals > 4:   # 2e-5, not 0.00002
        mantissa, exponent = f"{value:.{max(0, decimals + math.floor(math.log10(abs(value))))}e}".split("e")
        return f"{mantissa}e{int(exponent)}"
    return f"{value:.{decimals}f}"


def _clean(value, step):
    """value rounded to well below its step, so 0.1 * 3 prints as 0.3."""
    return round(value, max(0, 12 - math.floor(math.log10(abs(step))))) if step else value


def _widen(lo, hi):
    if hi - lo > 1e-9 * max(abs(lo), abs(hi)):   # a narrower span is float noise around one value
        return lo, hi
    half = abs(lo) * 0.05 or 0.5
    return lo - half, hi + half


# ---- scales -------------------------------------------------------------------------------

class Scale:
    """Maps data values in [lo, hi] onto [a, b] user units, linearly or by log10."""

    def __init__(self, lo, hi, a, b, log=False):
        self.log = log
        self.lo, self.hi = (math.log10(lo), math.log10(hi)) if log else (lo, hi)
        self.a, self.b = a, b

    def __call__(self, value):
        v = math.log10(value) if self.log else value
        return self.a + (v - self.lo) / (self.hi - self.lo) * (self.b - self.a)


def y_axis(values, log=False):
    """(lo, hi, ticks, their labels) of a y axis showing `values`: round bounds on a
    linear axis, the data's own range (padded a little) on a log one."""
    lo, hi = _widen(min(values), max(values))
    if log:
        pad = (hi / lo) ** 0.03
        lo, hi = lo / pad, hi * pad
        ticks = log_ticks(lo, hi)
        # each label with the decimals of its own decade: 0.05, 0.1, 0.2, ..., 10
        return lo, hi, ticks, [format_tick(t, 10.0 ** math.floor(math.log10(t) + 1e-9)) for t in ticks]
    step = nice_step(hi - lo)
    lo, hi = _clean(math.floor(lo / step + 1e-9) * step, step), _clean(math.ceil(hi / step - 1e-9) * step, step)
    ticks = nice_ticks(lo, hi, round((hi - lo) / step))[0]
    return lo, hi, ticks, [format_tick(t, step) for t in ticks]


def wants_log(values):
    """A log axis pays when every value is positive and they span a decade or more."""
    return bool(values) and min(values) > 0 and max(values) / min(values) >= 10


# ---- drawing ------------------------------------------------------------------------------

def thin(xs, ys, limit=MAX_POINTS):
    """At most about `limit` points: the lowest and highest of each run of neighbours,
    in order, so a spike survives thinning."""
    n = len(xs)
    if n <= limit:
        return list(xs), list(ys)
    buckets = limit // 2
    out_x, out_y = [], []
    for b in range(buckets):
        lo, hi = b * n // buckets, (b + 1) * n // buckets
        chunk = range(lo, hi)
        i = min(chunk, key=lambda j: ys[j])
        k = max(chunk, key=lambda j: ys[j])
        for j in sorted({i, k}):
            out_x.append(xs[j])
            out_y.append(ys[j])
    return out_x, out_y


def line_chart(lines, x_label="step", log_y=None, title=""):
    """The SVG of `lines` (Line: label, xs, ys, colour) against a shared x axis.
    Non-finite values are left out; log_y None: a log axis when wants_log says so.
    A legend under the plot names the lines when there are two or more."""
    lines = [_finite_line(line, PALETTE[i % len(PALETTE)]) for i, line in enumerate(lines)]
    lines = [line for line in lines if line.xs]
    xs = [x for line in lines for x in line.xs]
    ys = [y for line in lines for y in line.ys]
    height = H + (_legend_height(lines) if len(lines) > 1 else 0)
    parts = [f'<svg class="chart" viewBox="0 0 {W} {height}" role="img" aria-label="{escape(title)}" '
             f'font-size="{FONT}">']
    if not xs:
        parts.append(f'<text x="{W / 2}" y="{H / 2}" text-anchor="middle" fill="#777">no finite values</text>')
        return "".join(parts) + "</svg>"
    log = wants_log(ys) if log_y is None else log_y and min(ys) > 0
    y_lo, y_hi, y_ticks, y_labels = y_axis(ys, log)
    x_lo, x_hi = _widen(min(xs), max(xs))
    x_ticks, x_step = nice_ticks(x_lo, x_hi, count=6, integer=all(float(x).is_integer() for x in xs))
    bottom = H - BOTTOM
    left = round(max(map(len, y_labels)) * CHAR + 12)
    sx, sy = Scale(x_lo, x_hi, left, W - RIGHT), Scale(y_lo, y_hi, bottom, TOP, log)
    for t, label in zip(y_ticks, y_labels):
        y = sy(t)
        parts.append(f'<line x1="{left}" x2="{W - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e4e4e4"/>'
                     f'<text class="ytick" x="{left - 5}" y="{y:.1f}" dy="0.35em" text-anchor="end" '
                     f'fill="#555">{escape(label)}</text>')
    for t in x_ticks:
        x = sx(t)
        parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{bottom}" y2="{bottom + 4}" stroke="#999"/>'
                     f'<text class="xtick" x="{x:.1f}" y="{bottom + 16}" text-anchor="middle" '
                     f'fill="#555">{escape(format_tick(t, x_step))}</text>')
    parts.append(f'<line x1="{left}" x2="{W - RIGHT}" y1="{bottom}" y2="{bottom}" stroke="#999"/>'
                 f'<text x="{W - RIGHT}" y="{H - 4}" text-anchor="end" fill="#555">{escape(x_label)}'
                 + (" (log y)" if log else "") + "</text>")
    for line in lines:
        px, py = thin(line.xs, line.ys)
        points = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in zip(px, py))
        parts.append(f'<polyline data-label="{escape(line.label)}" points="{points}" fill="none" '
                     f'stroke="{line.color}" stroke-width="1.6" stroke-linejoin="round"/>')
        if len(px) <= MARKERS_UP_TO:
            parts.extend(f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="2.6" fill="{line.color}"/>'
                         for x, y in zip(px, py))
    if len(lines) > 1:
        parts.append(_legend(lines))
    return "".join(parts) + "</svg>"


def _legend_rows(lines):
    """[(x, row)] of each line's legend entry: left to right, wrapping at the right edge."""
    places, x, row = [], LEGEND_LEFT, 0
    for line in lines:
        width = 22 + CHAR * len(line.label) + 14
        if x + width > W - RIGHT and x > LEGEND_LEFT:
            x, row = LEGEND_LEFT, row + 1
        places.append((x, row))
        x += width
    return places


def _legend_height(lines):
    return (_legend_rows(lines)[-1][1] + 1) * 18 + 4


def _legend(lines):
    """A swatch and the label of each line, under the plot."""
    parts = []
    for line, (x, row) in zip(lines, _legend_rows(lines)):
        y = H + row * 18 + 2
        parts.append(f'<line x1="{x}" x2="{x + 16}" y1="{y}" y2="{y}" stroke="{line.color}" stroke-width="3"/>'
                     f'<text x="{x + 22}" y="{y}" dy="0.35em" fill="#333">{escape(line.label)}</text>')
    return '<g class="legend">' + "".join(parts) + "</g>"


def _finite_line(line, color):
    """The line without its non-finite points, coloured `color` unless it has a colour."""
    kept = [(x, y) for x, y in zip(map(float, line.xs), map(float, line.ys))
            if math.isfinite(x) and math.isfinite(y)]
    return Line(line.label, [x for x, _ in kept], [y for _, y in kept], line.color or color)
