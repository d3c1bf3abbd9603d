"""`--resume` continues the same run or refuses in one line. An option that makes the
run what it is (model, data, split, seed, validation batches, --init, --max-length),
typed again with another value, is refused naming the option, the checkpoint's value
and how to start a new run from the checkpoint instead; left out, it takes the stored
value. A data file is known by its content: moved, it resumes from its new path;
changed, it is refused. The options that steer how the run goes on may change."""
import json
import os
import shutil

import pytest

from tests.cli_harness import BERT_TINY, GPT_TINY, copy, error_line, minitx, snapshot

RESUME = ["--resume", "--no-progress", "--out", "run"]
FINETUNE = ["finetune", "bert", "--task", "classify", "--max-iters", "2", "--batch-size", "2",
            "--eval-interval", "1", "--max-length", "16", "--no-progress"]


def config(run):
    return json.loads((run / "last" / "config.json").read_text())


def step(run):
    return json.loads((run / "last" / "trainer_state.json").read_text())["step"]


def refused(done, run, before, *names):
    """One error line naming `names`; the run folder untouched."""
    line = error_line(done, *names)
    assert snapshot(run) == before, "a refused resume changed the run folder"
    return line


GPT_CHANGES = [(["--seed", "99"], "--seed 99", "1337"), (["--val-fraction", "0.5"], "--val-fraction 0.5", "0.1"),
               (["--batch-size", "3"], "--batch-size 3", "2"), (["--eval-iters", "2"], "--eval-iters 2", "1"),
               (["--n-embd", "32"], "--n-embd 32", "16")]


@pytest.mark.parametrize("typed, named, stored", GPT_CHANGES, ids=[c[1] for c in GPT_CHANGES])
def test_train_gpt_resume_refuses_a_changed_option(cli_runs, tmp_path, typed, named, stored):
    run = copy(cli_runs.gpt, tmp_path / "run")
    before = snapshot(run)
    done = minitx("train", "gpt", *RESUME, "--max-iters", "3", "--sample-tokens", "0", *typed, cwd=tmp_path)
    line = refused(done, run, before, named, f"checkpoint's {stored}", "--init run/last")
    assert "leave out --resume" in line


def test_train_gpt_resume_takes_typed_equal_and_steering_options(cli_runs, tmp_path):
    """The stored values typed again are no change; --lr and --eval-interval may change."""
    run = copy(cli_runs.gpt, tmp_path / "run")
    done = minitx("train", "gpt", *RESUME, "--max-iters", "3", "--sample-tokens", "0", "--seed", "1337",
                  "--val-fraction", "0.1", "--batch-size", "2", "--data", cli_runs.text, "--lr", "1e-3",
                  "--eval-interval", "2", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert step(run) == 3 and config(run)["train"]["lr"] == 1e-3


def test_the_way_out_that_a_refusal_names_starts_a_new_run(cli_runs, tmp_path):
    copy(cli_runs.gpt, tmp_path / "run")
    done = minitx("train", "gpt", "--init", "run/last", "--out", "new", "--seed", "99", "--max-iters", "1",
                  "--data", cli_runs.text, "--no-progress", "--sample-tokens", "0", cwd=tmp_path)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("model", ["gpt", "bert"])
def test_a_moved_data_file_resumes_from_its_new_path_and_a_changed_one_is_refused(cli_runs, tmp_path, model):
    source = cli_runs.text if model == "gpt" else cli_runs.docs
    shutil.copy(source, tmp_path / "a.txt")
    command = ["train", model, *(GPT_TINY if model == "gpt" else BERT_TINY)]
    if model == "gpt":
        command += ["--sample-tokens", "0"]
    done = minitx(*command, "--max-iters", "2", "--data", "a.txt", "--out", "run", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    run = tmp_path / "run"
    (tmp_path / "a.txt").rename(tmp_path / "b.txt")
    before = snapshot(run)
    done = minitx(*command, "--resume", "--max-iters", "3", "--out", "run", cwd=tmp_path)
    refused(done, run, before, "a.txt", "is missing", "pass its new path with --data")

    done = minitx(*command, "--resume", "--max-iters", "3", "--data", "b.txt", "--out", "run", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert step(run) == 3 and config(run)["data"]["path"] == str(tmp_path / "b.txt")

    with open(tmp_path / "b.txt", "a") as f:
        f.write("one more line the run never saw.\n")
    before = snapshot(run)
    done = minitx(*command, "--resume", "--max-iters", "4", "--out", "run", cwd=tmp_path)
    refused(done, run, before, "--data", "b.txt", "changed after the run began")
    shutil.copy(cli_runs.text if model == "bert" else cli_runs.docs, tmp_path / "c.txt")
    done = minitx(*command, "--resume", "--max-iters", "4", "--data", "c.txt", "--out", "run", cwd=tmp_path)
    refused(done, run, before, "--data c.txt", "differs from the file the run began with", "b.txt")


def test_train_bert_resume_refuses_a_changed_seed_or_dropout(cli_runs, tmp_path):
    run = copy(cli_runs.bert, tmp_path / "run")
    before = snapshot(run)
    for typed, named, stored in ((["--seed", "5"], "--seed 5", "1337"), (["--dropout", "0.3"], "--dropout 0.3", "0.1"),
                                 (["--val-fraction", "0.5"], "--val-fraction 0.5", "0.25")):
        done = minitx("train", "bert", *RESUME, "--max-iters", "3", *typed, cwd=tmp_path)
        line = refused(done, run, before, named, f"checkpoint's {stored}")
        assert "--init" not in line and "another --out" in line   # pretraining has no --init


@pytest.fixture(scope="module")
def finetuned(cli_runs, tmp_path_factory):
    """A 2-step classify run from the BERT run's export, on its own copy of the data."""
    folder = tmp_path_factory.mktemp("finetuned")
    shutil.copy(cli_runs.classify, folder / "a.jsonl")
    done = minitx(*FINETUNE, "--data", "a.jsonl", "--init", cli_runs.hf, "--out", "run", cwd=folder)
    assert done.returncode == 0, done.stderr
    return folder / "run"


FINETUNE_CHANGES = [(["--val-fraction", "0.5"], "--val-fraction 0.5", "0.1"), (["--seed", "99"], "--seed 99", "1337"),
                    (["--max-length", "12"], "--max-length 12", "16"), (["--multi-label"], "--multi-label True", "False")]


@pytest.mark.parametrize("typed, named, stored", FINETUNE_CHANGES, ids=[c[1] for c in FINETUNE_CHANGES])
def test_finetune_bert_resume_refuses_a_changed_option(cli_runs, finetuned, tmp_path, typed, named, stored):
    run = copy(finetuned, tmp_path / "run")
    shutil.copy(cli_runs.classify, tmp_path / "moved.jsonl")
    before = snapshot(run)
    done = minitx(*FINETUNE, *RESUME, "--data", "moved.jsonl", "--init", cli_runs.hf, *typed, "--max-iters", "3",
                  cwd=tmp_path)
    refused(done, run, before, named, f"checkpoint's {stored}", "--init run/last")


def test_finetune_bert_resume_refuses_other_data_or_init(cli_runs, finetuned, tmp_path):
    run = copy(finetuned, tmp_path / "run")
    before = snapshot(run)
    other = tmp_path / "other.jsonl"
    other.write_text(cli_runs.classify.read_text().replace("the cat", "a dog"))
    cases = [(["--data", other, "--init", cli_runs.hf], ["--data", "other.jsonl", "differs"]),
             (["--data", cli_runs.classify, "--init", cli_runs.bert], ["--init", str(cli_runs.bert), str(cli_runs.hf)]),
             (["--data", cli_runs.classify, "--init", cli_runs.hf, "--val-data", other],
              ["--val-data", "the run began with --val-fraction"]),
             (["--data", cli_runs.classify, "--init", cli_runs.hf, "--task", "tag"], ["--task tag", "bert-classify"])]
    for typed, names in cases:
        done = minitx(*FINETUNE, *RESUME, "--max-iters", "3", *typed, cwd=tmp_path)
        refused(done, run, before, *names)
    # the same run, its data moved and --init spelt another way: resumed
    shutil.copy(cli_runs.classify, tmp_path / "moved.jsonl")
    relative = os.path.relpath(cli_runs.hf, tmp_path)
    done = minitx(*FINETUNE, *RESUME, "--max-iters", "3", "--data", "moved.jsonl", "--init", relative, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert step(run) == 3
    # the way out the refusals name
    done = minitx(*FINETUNE, "--data", other, "--init", "run/last", "--out", "new", cwd=tmp_path)
    assert done.returncode == 0, done.stderr


def test_a_run_recorded_without_a_data_digest_resumes_from_a_moved_file(cli_runs, tmp_path):
    """A checkpoint written before data files were hashed has nothing to compare: the
    typed --data is taken, as before, and the next save records its digest."""
    from tests.cli_harness import rehash
    run = copy(cli_runs.gpt, tmp_path / "run")
    for name in ("last", "best"):
        stored = json.loads((run / name / "config.json").read_text())
        del stored["data"]["sha256"]
        (run / name / "config.json").write_text(json.dumps(stored))
        rehash(run / name, "config.json")
    shutil.copy(cli_runs.text, tmp_path / "moved.txt")
    done = minitx("train", "gpt", *RESUME, "--max-iters", "3", "--sample-tokens", "0", "--data", "moved.txt",
                  cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert config(run)["data"]["path"] == str(tmp_path / "moved.txt") and len(config(run)["data"]["sha256"]) == 64
