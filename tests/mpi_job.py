"""`minitx ARGS` for tests/test_distributed.py, run under mpirun, with a fault on one rank.

FAULT=raise|hang|kill makes rank FAULT_RANK (default 1) raise, sleep for an hour,
or die by SIGKILL as it begins step FAULT_STEP (default 3); FAULT=SIGINT (or
another signal's name) makes that rank send itself the signal as step FAULT_STEP
ends, after the step's collectives, where the ranks' last agreement is already
behind them (the signal a user sends one rank lands anywhere); FAULT=until stops
every rank after step FAULT_STEP, as Ctrl-C would (last/ saved, the schedule
still that of --max-iters). SAVES_LOG=FILE records each checkpoint save as a
line "RANK PATH". SLOW_NOTE=SECONDS makes rank 0 wait that long before each
line it prints on stderr (a rank 0 slower than the others).
"""
import os
import signal
import sys
import time

from minitx.cli import app
from minitx.cli.app import main
from minitx.distributed import launched_rank
from minitx.training import trainer as trainer_module

RANK = launched_rank()
FAULT, FAULT_RANK, FAULT_STEP = (os.environ.get("FAULT"), int(os.environ.get("FAULT_RANK", "1")),
                                 int(os.environ.get("FAULT_STEP", "3")))
train_step, save_checkpoint = trainer_module.Trainer.train_step, trainer_module.save_checkpoint
fit = trainer_module.Trainer.fit


def faulty_train_step(self):
    if RANK == FAULT_RANK and self.step + 1 == FAULT_STEP:
        if FAULT == "raise":
            raise RuntimeError(f"injected fault at step {FAULT_STEP}")
        if FAULT == "hang":
            time.sleep(3600)
        if FAULT == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
    result = train_step(self)
    if RANK == FAULT_RANK and self.step == FAULT_STEP and (FAULT or "").startswith("SIG"):
        os.kill(os.getpid(), getattr(signal, FAULT))
    return result


def logged_save(path, *args, **kwargs):
    with open(os.environ["SAVES_LOG"], "a") as log:
        log.write(f"{RANK} {path}\n")
    return save_checkpoint(path, *args, **kwargs)


trainer_module.Trainer.train_step = faulty_train_step
if FAULT == "until":
    trainer_module.Trainer.fit = lambda self, until=None: fit(self, until=FAULT_STEP)
if os.environ.get("SAVES_LOG"):
    trainer_module.save_checkpoint = logged_save
if os.environ.get("SLOW_NOTE") and RANK == 0:
    note = app.note
    app.note = lambda message: (time.sleep(float(os.environ["SLOW_NOTE"])), note(message))
sys.exit(main(sys.argv[1:]))
