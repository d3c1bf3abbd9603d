"""`--config FILE` (TOML): the options of any command from a file, a flag typed on the
command line winning; the run records the file. A bad file is one line, before any work."""
import json

import pytest

from tests.cli_harness import GPT_TINY, error_line, minitx

# GPT_TINY's options as TOML, keys spelt with dashes and with underscores alike
TINY_TOML = """\
n-layer = 1
n_head = 2
n-embd = 16
block_size = 8
batch-size = 2
eval-interval = 1
eval_iters = 1
sample-tokens = 0
no-progress = true      # a flag
max-iters = 2
"""


def _config(run):
    return json.loads((run / "last" / "config.json").read_text())


def test_a_toml_file_sets_the_options_and_the_run_records_it(tmp_path):
    (tmp_path / "run.toml").write_text(TINY_TOML + 'out = "from-file"\nlr = 2e-3\n')
    done = minitx("train", "gpt", "--config", "run.toml", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    config = _config(tmp_path / "from-file")
    assert config["train"]["max_iters"] == 2 and config["train"]["lr"] == 2e-3
    assert config["model"]["n_embd"] == 16 and config["model"]["block_size"] == 8
    assert config["config_file"] == {"path": str(tmp_path / "run.toml"), "text": (tmp_path / "run.toml").read_text()}
    assert "step/s" not in done.stderr and "s/step" not in done.stderr  # no-progress = true: no bar


def test_a_flag_on_the_command_line_wins_over_the_file(tmp_path):
    (tmp_path / "run.toml").write_text(TINY_TOML + 'out = "from-file"\n')
    done = minitx("train", "gpt", "--config", "run.toml", "--max-iters", "3", "--out", "typed", "--n-embd", "8",
                  cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    config = _config(tmp_path / "typed")
    assert config["train"]["max_iters"] == 3 and config["model"]["n_embd"] == 8 and config["model"]["n_layer"] == 1
    assert not (tmp_path / "from-file").exists()


def test_a_flag_typed_wins_over_the_one_it_excludes_in_the_file(tmp_path):
    """overwrite = true in the file, --resume typed: the run resumes; resume = true in the file,
    --overwrite typed: it starts afresh (the two exclude each other)."""
    (tmp_path / "run.toml").write_text(TINY_TOML + 'out = "r"\n')
    assert minitx("train", "gpt", "--config", "run.toml", cwd=tmp_path).returncode == 0
    (tmp_path / "run.toml").write_text(TINY_TOML + 'out = "r"\noverwrite = true\n')
    done = minitx("train", "gpt", "--config", "run.toml", "--resume", "--max-iters", "3", cwd=tmp_path)
    assert done.returncode == 0 and "resuming r at step 2 of 3" in done.stderr, done.stderr
    (tmp_path / "run.toml").write_text(TINY_TOML + 'out = "r"\nresume = true\n')
    done = minitx("train", "gpt", "--config", "run.toml", "--overwrite", cwd=tmp_path)
    assert done.returncode == 0 and "resuming" not in done.stderr, done.stderr   # afresh: step 0 again
    assert json.loads((tmp_path / "r" / "metrics.jsonl").read_text().splitlines()[0])["step"] == 0
    (tmp_path / "both.toml").write_text("resume = true\noverwrite = true\n")
    error_line(minitx("train", "gpt", "--config", "both.toml", cwd=tmp_path), "both.toml", "'resume' and "
               "'overwrite' exclude each other", usage=True)


def test_the_file_gives_required_options(tmp_path):
    """finetune bert's --task, --init and --data may come from the file alone."""
    (tmp_path / "ft.toml").write_text('task = "classify"\ninit = "nowhere"\ndata = "d.jsonl"\n')
    done = minitx("finetune", "bert", "--config", "ft.toml", cwd=tmp_path)
    error_line(done, "--data d.jsonl: no such file")  # past argparse: the required options were given


@pytest.mark.parametrize("content, names", [
    ("lrr = 1e-3\n", ["run.toml: 'lrr' is not an option of `minitx train gpt`"]),
    ("max-iters = 2\nlr = \n", ["--config run.toml: not valid TOML", "line 2"]),
    ("lr = -1\n", ["run.toml: 'lr': must be a finite number >= 0, got -1"]),
    ("max_iters = 2.5\n", ["run.toml: 'max_iters': expected an integer, got '2.5'"]),
    ("no-progress = 1\n", ["run.toml: 'no-progress' is a flag: give true or false, not 1"]),
    ("lr = true\n", ["run.toml: 'lr' takes a value, not bool True"]),
    ("position = \"sideways\"\n", ["run.toml: 'position': invalid choice: 'sideways'"]),
    ("[train]\nlr = 1\n", ["run.toml: 'train' is not an option"]),
])
def test_a_bad_file_is_one_line_naming_the_key_and_the_command(tmp_path, content, names):
    (tmp_path / "run.toml").write_text(content)
    done = minitx("train", "gpt", "--config", "run.toml", "--out", "o", cwd=tmp_path)
    line = error_line(done, *names, usage=True)
    assert line.startswith("minitx train gpt: error: "), line
    assert not (tmp_path / "o").exists()


def test_a_missing_config_file_is_one_line(tmp_path):
    error_line(minitx("embed", "--config", "none.toml", cwd=tmp_path), "--config none.toml: no such file",
               usage=True)


def test_main_takes_options_as_keywords(tmp_path, monkeypatch, capsys):
    """main(argv, **options): the options a file would give, from Python; typed words still win."""
    from minitx.cli import main
    monkeypatch.setenv("MINITX_BACKEND", "numpy")
    monkeypatch.chdir(tmp_path)
    assert main(["train", "gpt", *GPT_TINY, "--max-iters", "2"], out="kw", max_iters=5, lr=3e-3) == 0
    config = _config(tmp_path / "kw")
    assert config["train"]["max_iters"] == 2 and config["train"]["lr"] == 3e-3 and "config_file" not in config
    with pytest.raises(SystemExit):
        main(["train", "gpt"], lrr=1)
    assert "main(): 'lrr' is not an option of `minitx train gpt`" in capsys.readouterr().err
    with pytest.raises(SystemExit):   # Python rows are for the commands that read examples
        main(["train", "gpt"], data=[{"text": "a"}])
    assert "main(): 'data' takes a value, not list" in capsys.readouterr().err


def test_a_resumed_run_keeps_the_file_it_recorded(tmp_path):
    (tmp_path / "run.toml").write_text(TINY_TOML + 'out = "r"\n')
    assert minitx("train", "gpt", "--config", "run.toml", cwd=tmp_path).returncode == 0
    done = minitx("train", "gpt", "--out", "r", "--resume", "--max-iters", "3", "--no-progress",
                  "--sample-tokens", "0", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert _config(tmp_path / "r")["config_file"]["text"] == (tmp_path / "run.toml").read_text()


def test_on_resume_the_files_training_options_replace_the_stored_ones(tmp_path):
    """The file's options count as typed: on --resume its lr replaces the run's."""
    (tmp_path / "run.toml").write_text(TINY_TOML + 'out = "r"\n')
    assert minitx("train", "gpt", "--config", "run.toml", "--lr", "2e-3", cwd=tmp_path).returncode == 0
    (tmp_path / "more.toml").write_text(TINY_TOML + 'out = "r"\nlr = 1e-3\nresume = true\n')
    done = minitx("train", "gpt", "--config", "more.toml", "--max-iters", "3", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert _config(tmp_path / "r")["train"]["lr"] == 1e-3
