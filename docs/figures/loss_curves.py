"""A run's loss curves, drawn from its metrics.jsonl: a tiny character GPT trained for
200 steps (training loss every 2 steps, validation loss every 40)."""
import tempfile

from _common import output_path, tiny_gpt

from minitx.viz import loss_curves

if __name__ == "__main__":
    path = output_path(__file__, __doc__)
    with tempfile.TemporaryDirectory() as run:
        tiny_gpt(out_dir=run)
        loss_curves(run, path=path)
    print(path)
