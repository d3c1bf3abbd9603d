"""A loss curve drawn in text, from metrics.jsonl: no plotting library needed."""
import json


def read_metrics(path):
    """The records of a metrics.jsonl file; a line cut short by a crash is skipped."""
    records = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return records


def text_chart(series, width=60, height=12):
    """series: {mark: (xs, ys)}, drawn in order (later marks on top). Returns the chart."""
    points = [(x, y) for xs, ys in series.values() for x, y in zip(xs, ys)]
    if not points:
        return "(nothing to plot)"
    x0, x1 = min(p[0] for p in points), max(p[0] for p in points)
    y0, y1 = min(p[1] for p in points), max(p[1] for p in points)
    grid = [[" "] * width for _ in range(height)]
    for mark, (xs, ys) in series.items():
        for x, y in zip(xs, ys):
            col = round((x - x0) / ((x1 - x0) or 1) * (width - 1))
            row = round((y1 - y) / ((y1 - y0) or 1) * (height - 1))
            grid[row][col] = mark
    labels = {0: y1, height // 2: (y0 + y1) / 2, height - 1: y0}
    lines = [f"{labels[r]:8.3f} |" if r in labels else " " * 8 + " |" for r in range(height)]
    lines = [label + "".join(row) for label, row in zip(lines, grid)]
    lines.append(" " * 9 + "+" + "-" * width)
    lines.append(" " * 10 + f"{x0:<{width // 2}}" + f"{x1:>{width - width // 2}}")
    return "\n".join(lines)


def loss_chart(records, width=60, height=12):
    """Training loss (.) and validation loss (o) against the step."""
    train = [(r["step"], r["loss"]) for r in records if r.get("event") == "train"]
    val = [(r["step"], r["val_loss"]) for r in records if r.get("event") == "eval"]
    if not train and not val:
        return "(no losses recorded)"
    chart = text_chart({".": tuple(zip(*train)) or ((), ()), "o": tuple(zip(*val)) or ((), ())}, width, height)
    return chart + "\n" + " " * 10 + "step    . train loss   o validation loss"
