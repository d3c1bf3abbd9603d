"""`minitx ARGS` for the tests of kills: the process SIGKILLs itself at a chosen moment,
as a crash, the OOM killer or a pulled plug would end it (no handler runs, no file is
closed).

KILL_AFTER=S     S seconds after training begins (Trainer.fit), wherever it is then:
                 in a step, an evaluation, a save or a write to metrics.jsonl
KILL_AT=STAGE:N  at STAGE of this process's N-th checkpoint save, or of the first save
                 after it where STAGE comes up; STAGE is one of
                   files     the temporary folder written, its manifest not yet
                   renaming  the temporary folder complete; the old checkpoint not yet moved
                   swap      between the two renames: the old checkpoint is .NAME.old
                   swapped   both renames done, .NAME.old not yet deleted
                   deleting  .NAME.old half deleted, its manifest first
KILL_AT=step:K   as step K begins
"""
import os
import shutil
import signal
import sys
import threading

from minitx.cli.app import main
from minitx.training import checkpoint
from minitx.training import trainer as trainer_module

STAGE, _, N = os.environ.get("KILL_AT", ":0").partition(":")
N = int(N)
saves = 0


def kill():
    os.kill(os.getpid(), signal.SIGKILL)


def at(stage):
    if stage == STAGE and saves >= N:
        kill()


def counted_save(*args, save=trainer_module.save_checkpoint, **kwargs):
    global saves
    saves += 1
    return save(*args, **kwargs)


def write_contents(*args, write=checkpoint._write_contents):
    files = write(*args)
    at("files")
    return files


class StagedOS:
    """os, for checkpoint.py alone, with the renames of a save as stages."""

    def __getattr__(self, name):
        return getattr(os, name)

    def rename(self, src, dst):
        moving_old = dst.endswith(".old")
        if moving_old:
            at("renaming")
        os.rename(src, dst)
        if moving_old:
            at("swap")


class StagedShutil:
    """shutil, for checkpoint.py alone, with the deletion of .NAME.old as stages."""

    def __getattr__(self, name):
        return getattr(shutil, name)

    def rmtree(self, path, *args, **kwargs):
        if path.endswith(".old") and os.path.isdir(path):   # a first save has no old one to delete
            at("swapped")
            if STAGE == "deleting" and saves >= N:
                names = sorted(os.listdir(path), key=lambda name: name != checkpoint.MANIFEST)
                for name in names[:len(names) // 2]:
                    os.remove(os.path.join(path, name))
                kill()
        shutil.rmtree(path, *args, **kwargs)


def train_step(self, step=trainer_module.Trainer.train_step):
    if STAGE == "step" and self.step + 1 == N:
        kill()
    return step(self)


def fit(self, *args, fit=trainer_module.Trainer.fit, **kwargs):
    if os.environ.get("KILL_AFTER"):
        threading.Thread(target=lambda: (threading.Event().wait(float(os.environ["KILL_AFTER"])), kill()),
                         daemon=True).start()
    return fit(self, *args, **kwargs)


trainer_module.save_checkpoint = counted_save
checkpoint._write_contents = write_contents
checkpoint.os, checkpoint.shutil = StagedOS(), StagedShutil()
trainer_module.Trainer.train_step, trainer_module.Trainer.fit = train_step, fit
sys.exit(main(sys.argv[1:]))
