"""A run's report.html as a reader sees it: `minitx train gpt` trains a small character
GPT on the built-in corpus (a minute or two on 2 cores), then headless Chromium opens
the page the run wrote and saves a screenshot at a laptop's width (docs/img/report.png).

Run by hand: it needs a Chromium (Debian: `apt-get install chromium`), which the test
suite does not; the tests check the page itself (tests/test_report.py).

    python docs/screenshots/report.py                  # docs/img/report.png, 1366 px wide
    python docs/screenshots/report.py --width 800 --out /tmp
    python docs/screenshots/report.py --run runs/gpt --out /tmp   # the report of a run of yours
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
IMG = ROOT / "docs" / "img"
BROWSERS = ("chromium", "chromium-browser", "google-chrome")
# a run small enough to train in a minute or two, long enough for its curves to bend
TRAIN = ["train", "gpt", "--n-layer", "2", "--n-head", "4", "--n-embd", "64", "--block-size", "64",
         "--batch-size", "16", "--max-iters", "300", "--eval-interval", "25", "--eval-iters", "8", "--lr", "3e-3",
         "--sample-tokens", "200", "--no-progress", "--seed", "0"]


def train(run):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT)] + ([os.environ["PYTHONPATH"]]
                                                                     if os.environ.get("PYTHONPATH") else []))}
    subprocess.run([sys.executable, "-m", "minitx", *TRAIN, "--out", str(run)], env=env, check=True,
                   stdout=subprocess.DEVNULL)
    return run / "report.html"


def screenshot(browser, page, png, width, height):
    """Chromium, headless, with nothing that reaches the network, opens `page` in a fresh
    profile and saves the window (width x height CSS pixels) as `png`."""
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                        "--disable-background-networking", "--disable-component-update", "--disable-sync",
                        "--hide-scrollbars", "--force-device-scale-factor=1", f"--user-data-dir={profile}",
                        f"--screenshot={png}", f"--window-size={width},{height}", page.resolve().as_uri()],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)
    if not png.exists():
        raise SystemExit(f"{browser} wrote no {png}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=IMG, metavar="DIR",
                        help="folder for report.png (default: docs/img)")
    parser.add_argument("--width", type=int, default=1366, help="window width in CSS pixels")
    parser.add_argument("--height", type=int, default=1000, help="window height in CSS pixels")
    parser.add_argument("--run", type=Path, default=None, metavar="DIR",
                        help="take the report.html of this run folder instead of training one")
    parser.add_argument("--browser", default=None, help=f"the Chromium to run (default: the first of "
                        f"{', '.join(BROWSERS)} on PATH)")
    args = parser.parse_args()
    browser = args.browser or next((b for b in BROWSERS if shutil.which(b)), None)
    if browser is None:
        raise SystemExit(f"no Chromium on PATH ({', '.join(BROWSERS)}); install one, or pass --browser")
    args.out.mkdir(parents=True, exist_ok=True)
    png = args.out / "report.png"
    with tempfile.TemporaryDirectory() as scratch:
        page = args.run / "report.html" if args.run else train(Path(scratch) / "gpt")
        screenshot(browser, page, png, args.width, args.height)
    print(png)


if __name__ == "__main__":
    main()
