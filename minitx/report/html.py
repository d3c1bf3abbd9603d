"""The report page: one self-contained HTML file (inline CSS and SVG, no script, nothing
fetched) of a run, or of several runs overlaid.

A run's page: the key numbers, a chart per metric group (series.plan), the texts the
model generated, other events, the configuration and the machine. The overlay: a
table of the runs, one chart per metric with one line per run, the configuration
keys that differ, the machines.
"""
import datetime
import json
import math
from html import escape

from .series import TRAINER_EVENTS, collect, plan, title
from .svg import PALETTE, Line, line_chart

CSS = """
*{box-sizing:border-box}
body{margin:0;background:#f5f6f8;color:#222;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,
"Helvetica Neue",Arial,sans-serif}
main{max-width:1400px;margin:0 auto;padding:18px 22px 28px}
h1{font-size:21px;margin:0 0 2px;overflow-wrap:anywhere}
h2{font-size:16px;margin:26px 0 10px;padding-bottom:4px;border-bottom:1px solid #dcdfe4}
.sub{color:#666;margin:0 0 14px}
.cards{display:flex;flex-wrap:wrap;gap:10px}
.card{background:#fff;border:1px solid #e0e3e8;border-radius:6px;padding:7px 12px;min-width:120px}
.card b{display:block;font-size:18px;font-variant-numeric:tabular-nums}
.card span{color:#666;font-size:12px}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(340px,1fr));gap:14px}
figure{margin:0;background:#fff;border:1px solid #e0e3e8;border-radius:6px;padding:8px 10px 6px;min-width:0}
figcaption{font-weight:600;margin:0 0 2px}
svg.chart{display:block;width:100%;height:auto;font-family:inherit}
.tables{columns:300px;column-gap:14px}
.tables table{break-inside:avoid;margin-bottom:14px}
table{border-collapse:collapse;background:#fff;border:1px solid #e0e3e8;border-radius:6px;width:100%}
caption{text-align:left;font-weight:600;padding:0 0 4px}
th,td{text-align:left;vertical-align:top;padding:3px 10px;border-top:1px solid #eef0f3;overflow-wrap:anywhere}
th{font-weight:500;color:#555;white-space:nowrap}
td{font-variant-numeric:tabular-nums}
.wide{overflow-x:auto}
.swatch{display:inline-block;width:14px;height:4px;border-radius:2px;vertical-align:middle;margin-right:6px}
pre{background:#fff;border:1px solid #e0e3e8;border-radius:6px;padding:10px 12px;margin:0 0 10px;
white-space:pre-wrap;overflow-wrap:anywhere;max-height:22em;overflow-y:auto;font-size:13px}
footer{color:#777;font-size:12px;margin-top:28px}
@media (max-width:640px){main{padding:12px}.grid{grid-template-columns:1fr}}
"""


def run_page(run):
    """The HTML of one run's report."""
    config = run.config or {}
    series = collect(_trainer_records(run.records))
    charts = plan(series, {k: ys for k, (xs, ys) in series.items()})
    figures = [_figure(chart.title, [Line(title(k), *series[k]) for k in chart.keys], chart.log) for chart in charts]
    samples = [r for r in run.records if r.get("event") == "sample" and isinstance(r.get("text"), str)]
    body = [f"<h1>{escape(run.name)}</h1>", f'<p class="sub">{escape(_describe(config, run.records))}</p>',
            _cards(run.records), "<h2>Metrics</h2>", '<div class="grid">' + "".join(figures) + "</div>"]
    if samples:
        body.append("<h2>Generated text</h2>")
        body += [f"<pre>step {r['step']}:\n{escape(r['text'])}</pre>" for r in reversed(samples[-3:])]
    events = _events(run.records)
    if events:
        body += ["<h2>Events</h2>", events]
    body += ["<h2>Configuration</h2>", _config_tables(config) if config else "<p>no checkpoint yet</p>",
             "<h2>Machine</h2>", _machine_table([run])]
    return _page(f"{run.name}: minitx run", body, f"minitx report {run.path}")


def overlay_page(runs):
    """The HTML of several runs overlaid: one chart per metric, one line per run."""
    per_run = [collect(_trainer_records(run.records)) for run in runs]
    keys = list(dict.fromkeys(k for series in per_run for k in series))
    values = {k: [y for series in per_run for y in series.get(k, ((), ()))[1]] for k in keys}
    colors = {run.name: PALETTE[i % len(PALETTE)] for i, run in enumerate(runs)}
    figures = []
    for chart in plan(keys, values, overlay=True):
        (key,) = chart.keys
        lines = [Line(run.name, *series[key], colors[run.name]) for run, series in zip(runs, per_run) if key in series]
        figures.append(_figure(chart.title, lines, chart.log))
    rows = [[f'<span class="swatch" style="background:{colors[run.name]}"></span>{escape(run.name)}',
             escape(_describe(run.config or {}, run.records)), _best_text(run.records)] for run in runs]
    body = [f"<h1>{len(runs)} runs</h1>", f'<p class="sub">{escape(", ".join(run.path for run in runs))}</p>',
            _table(["run", "", "best validation loss"], rows, escaped=True),
            "<h2>Metrics</h2>", '<div class="grid">' + "".join(figures) + "</div>",
            "<h2>Configuration: what differs</h2>", _config_differences(runs),
            "<h2>Machines</h2>", _machine_table(runs)]
    return _page(f"{len(runs)} minitx runs", body, "minitx report " + " ".join(run.path for run in runs))


# ---- parts ------------------------------------------------------------------------------

def _page(page_title, body, command):
    from .. import __version__
    when = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{escape(page_title)}</title><style>{CSS}</style></head><body><main>\n"
            + "\n".join(body)
            + f"\n<footer>written by minitx {escape(__version__)} at {escape(when)}; "
              f"<code>{escape(command)}</code> writes it again</footer></main></body></html>\n")


def _trainer_records(records):
    return [r for r in records if r.get("event") in TRAINER_EVENTS]


def _figure(caption, lines, log):
    return f"<figure><figcaption>{escape(caption)}</figcaption>{line_chart(lines, log_y=log, title=caption)}</figure>"


def _describe(config, records):
    """The model and how far the run got: "gpt, 4 layers of 128 channels; step 800 of 800"."""
    parts = [str(config.get("model_type", "a run"))]
    model = config.get("model") if isinstance(config.get("model"), dict) else {}
    layers = model.get("n_layer", model.get("num_hidden_layers"))
    width = model.get("n_embd", model.get("hidden_size"))
    if layers is not None and width is not None:
        parts.append(f"{layers} layer{'s' if layers != 1 else ''} of {width} channels")
    train = config.get("train") if isinstance(config.get("train"), dict) else {}
    step = max(r["step"] for r in records)
    return ", ".join(parts) + f"; step {step}" + (f" of {train['max_iters']}" if "max_iters" in train else "")


def _cards(records):
    """The key numbers: the last evaluation's values, the best validation loss, the
    training speed of the last logged steps."""
    evals = [r for r in records if r.get("event") == "eval"]
    cards = []
    if evals:
        last = evals[-1]
        cards += [(_number(v), f"{title(('eval', k))} at step {last['step']}") for k, v in last.items()
                  if k not in ("event", "step", "elapsed", "train_loss") and _numeric(v)]
    best = _best(records)
    if best is not None:
        cards.append((best[0], f"best validation loss (step {best[1]})"))
    speeds = [r["tokens_per_sec"] for r in records if r.get("event") == "train" and _numeric(r.get("tokens_per_sec"))]
    if speeds:
        recent = speeds[-10:]
        cards.append((f"{sum(recent) / len(recent):,.0f}", "tokens/s (last logged steps)"))
    return '<div class="cards">' + "".join(f"<div class=\"card\"><b>{escape(value)}</b><span>{escape(what)}</span>"
                                           f"</div>" for value, what in cards) + "</div>"


def _best(records):
    """(the lowest validation loss, shown, and its step), or None before an evaluation."""
    evals = [r for r in records if r.get("event") == "eval" and _numeric(r.get("val_loss"))]
    if not evals:
        return None
    best = min(evals, key=lambda r: r["val_loss"])
    return _number(best["val_loss"]), best["step"]


def _best_text(records):
    best = _best(records)
    return "-" if best is None else f"{best[0]} (step {best[1]})"


def _events(records):
    """Records of events other than train, eval and sample (a stop, say), one row each."""
    rows = [[str(r["step"]), str(r.get("event")), ", ".join(f"{k} {_value(v)}" for k, v in r.items()
                                                           if k not in ("event", "step", "elapsed"))]
            for r in records if r.get("event") not in TRAINER_EVENTS + ("sample",)]
    return _table(["step", "event", ""], rows) if rows else ""


def _config_tables(config):
    """One table per section of config.json (model, train, options, ...), the top-level
    values in a first table."""
    top = [[k, _value(v)] for k, v in config.items() if not isinstance(v, dict)]
    tables = [_table(["run", ""], top, caption="run")] if top else []
    tables += [_table([name, ""], [[k, _value(v)] for k, v in _flat(section).items()], caption=name)
               for name, section in config.items() if isinstance(section, dict)]
    return '<div class="tables">' + "".join(tables) + "</div>"


def _config_differences(runs):
    flat = [_flat(run.config or {}) for run in runs]
    keys = [k for k in dict.fromkeys(k for f in flat for k in f) if len({_value(f.get(k)) for f in flat}) > 1]
    if not keys:
        return "<p>the runs' configurations are the same</p>"
    rows = [[k] + [_value(f.get(k)) for f in flat] for k in keys]
    return '<div class="wide">' + _table(["key"] + [run.name for run in runs], rows) + "</div>"


def _machine_table(runs):
    """A column per machine a run trained on (one, unless it was resumed elsewhere)."""
    columns = [(run.name + (f" from step {m.get('from_step')}" if len(run.machines) > 1 else ""), m)
               for run in runs for m in run.machines]
    if not columns:
        return "<p>not recorded</p>"
    if len(runs) > 1 and len({json.dumps(_without_step(m), sort_keys=True) for _, m in columns}) == 1:
        columns = [("every run", columns[0][1])]   # one machine trained them all: one column
    names = list(dict.fromkeys(k for _, m in columns for k in m if k != "from_step"))
    rows = [[k] + [_value(m.get(k)) for _, m in columns] for k in names]
    heads = [""] + [name for name, _ in columns] if len(runs) > 1 or len(columns) > 1 else ["", ""]
    return '<div class="wide">' + _table(heads, rows) + "</div>"


def _without_step(machine):
    return {k: v for k, v in machine.items() if k != "from_step"}


def _table(heads, rows, caption=None, escaped=False):
    """A table; each row's first cell is its header. escaped: the cells are HTML already."""
    cell = (lambda v: v) if escaped else escape
    head = "<tr>" + "".join(f"<th>{escape(h)}</th>" for h in heads) + "</tr>" if any(heads[1:]) else ""
    body = "".join("<tr><th>" + cell(row[0]) + "</th>" + "".join(f"<td>{cell(v)}</td>" for v in row[1:]) + "</tr>"
                   for row in rows)
    return "<table>" + (f"<caption>{escape(caption)}</caption>" if caption else "") + head + body + "</table>"


def _flat(section, prefix=""):
    """{"a": {"b": 1}} -> {"a.b": 1}."""
    out = {}
    for k, v in section.items():
        if isinstance(v, dict) and v:
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def _value(v):
    if v is None:
        return "-"
    if isinstance(v, str):
        return v
    return json.dumps(v)


def _number(v):
    if isinstance(v, int) or not math.isfinite(v):
        return str(v)
    return f"{v:.4g}" if abs(v) >= 1e-3 or v == 0 else f"{v:.3g}"


def _numeric(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)
