"""`minitx train MODEL`, and the outline that every training command follows:

    prepare:  the options and the files they name, then what --out holds, then on
              --resume the stored run, checked against the command
    the command's own code: data, model and Trainer; resume; clear_out; fit
    report, and exit_code

The checks come before anything is written, so a refused command leaves --out
as it found it.
"""
import os

from ..tokenizers._files import STDIN
from .app import EXIT_INTERRUPTED, CLIError, note
from .options import given

# Folders a run keeps in --out; the .old ones exist only between the two renames of a save.
_RUN_FOLDERS = ("last", "best", ".last.old", ".best.old")
_TRAIN_OPTIONS = {"max_iters": "max_iters", "batch_size": "batch_size", "grad_accum": "grad_accum", "lr": "lr",
                  "min_lr": "min_lr", "warmup": "warmup_iters", "weight_decay": "weight_decay",
                  "grad_clip": "grad_clip", "eval_interval": "eval_interval", "eval_iters": "eval_iters",
                  "early_stopping_patience": "early_stopping_patience",
                  "early_stopping_min_delta": "early_stopping_min_delta"}


def add_train(commands):
    from . import bert, gpt
    p = commands.add_parser("train", help="train a model from scratch", description="Train a model from scratch.")
    models = p.add_subparsers(title="models", dest="model", metavar="MODEL", required=True)
    gpt.add_train_gpt(models)
    bert.add_train_bert(models)


def check_file(option, path):
    """A file named by an option exists and is no folder (None: not given; rows given in
    Python to main() are not a file). `-` is standard input; a pipe (/dev/stdin,
    <(command)) is read as a file is."""
    if path is None or path == STDIN or not isinstance(path, (str, os.PathLike)):
        return
    if os.path.isdir(path):
        raise CLIError(f"--{option} {path}: is a folder; expected a file")
    if not os.path.exists(path):
        raise CLIError(f"--{option} {path}: no such file")


def train_config(args, stored=None, where="config.json", step=0):
    """TrainConfig from the options; on --resume (stored: the run's, at `step`), the stored
    one with the typed options applied, and a new --max-iters taken as an extension of the
    learning-rate schedule (TrainConfig.extended_to), never a jump."""
    from ..training.trainer import TrainConfig
    values = {}
    if stored is not None:
        values = TrainConfig.from_dict(stored, where=f"{where}: train").to_dict()
    extend = stored is not None and given(args, "max_iters") and args.max_iters != values["max_iters"]
    for opt, field in _TRAIN_OPTIONS.items():
        if (stored is None or given(args, opt)) and not (extend and opt == "max_iters"):
            values[field] = getattr(args, opt)
    if values.get("warmup_iters") is not None and values["warmup_iters"] >= values["max_iters"]:
        raise CLIError(f"--warmup {values['warmup_iters']} must be less than --max-iters {values['max_iters']}")
    cfg = TrainConfig(**values)
    if extend and args.max_iters > step:
        cfg = cfg.extended_to(args.max_iters, step)
    elif extend:
        raise CLIError(f"--max-iters {args.max_iters}: the run is already at step {step}; pass a larger "
                       f"--max-iters to train further")
    return cfg


def check_out(args):
    """What --out holds must fit the command: --resume needs a run there; a fresh run
    needs none (or --overwrite). Folders minitx did not write, and links, are never
    replaced: a checkpoint swap renames folders, which would not write through a link.
    Returns the checkpoint folders --overwrite is to delete (clear_out)."""
    from ..training.checkpoint import MANIFEST
    if not args.out:
        raise CLIError("--out is empty; give the folder for the run's checkpoints")
    if os.path.exists(args.out) and not os.path.isdir(args.out):
        raise CLIError(f"--out {args.out}: is a file, not a folder; choose another --out")
    _check_not_inside_a_checkpoint(args.out, MANIFEST)
    found = {}
    for name in _RUN_FOLDERS:
        path = os.path.join(args.out, name)
        if name.endswith(".old") and os.path.isfile(os.path.join(args.out, name[1:-4], MANIFEST)):
            continue  # a save stopped while deleting the checkpoint it replaced: the next save removes it
        if os.path.islink(path):
            raise CLIError(f"{path}: is a symbolic link; minitx replaces checkpoint folders by renaming them, "
                           f"which would not write where it points. Copy the folder in place of the link, "
                           f"or choose another --out")
        if os.path.isdir(path) and os.listdir(path):
            if not os.path.isfile(os.path.join(path, MANIFEST)):
                raise CLIError(f"{path}: not a minitx checkpoint (no {MANIFEST}); refusing to write into "
                               f"{args.out}. Move it away or choose another --out")
            found[name] = path
        elif os.path.exists(path) and not os.path.isdir(path):
            raise CLIError(f"{path}: is a file, not a checkpoint folder; choose another --out")
    metrics = os.path.join(args.out, "metrics.jsonl")
    if not found and not args.resume and not args.overwrite and os.path.exists(metrics):
        raise CLIError(f"{metrics}: exists, from a run that saved no checkpoint; pass --overwrite to replace it, "
                       f"or choose another --out")
    if args.resume:
        if "last" not in found and ".last.old" not in found:
            raise CLIError(f"--resume: {args.out} holds no checkpoint to continue "
                           f"({os.path.join(args.out, 'last')} is missing)")
    elif found and not args.overwrite:
        raise CLIError(f"{args.out} already holds a run ({', '.join(sorted(found))}); pass --resume to continue "
                       f"it, --overwrite to start afresh, or another --out")
    return found if args.overwrite else {}


def _check_not_inside_a_checkpoint(out, manifest):
    """--out must not be a checkpoint folder or lie inside one: the run that owns it
    replaces the whole folder at its next save, and what another run wrote there with it."""
    folder = os.path.abspath(out)
    while True:
        if os.path.isfile(os.path.join(folder, manifest)):
            inside = "is" if folder == os.path.abspath(out) else f"lies inside {folder}, which is"
            raise CLIError(f"--out {out}: {inside} a checkpoint folder of another run (its next save would "
                           f"delete it); choose a folder outside it")
        parent = os.path.dirname(folder)
        if parent == folder:
            return
        folder = parent


_held_locks = {}   # --out -> the open folder this process locked; the OS releases it when the process ends


def lock_out(out, create=False):
    """Take --out for this process: an advisory lock on the folder itself (nothing is
    written for it), held until the process ends; the OS releases it, after a kill -9 too.
    A second run on the same --out is one line. Without `create`, a folder that does not
    exist yet is left for clear_out to make and lock. Under MPI rank 0 alone writes and locks."""
    from ..distributed import world
    key = os.path.abspath(out)
    if not world().is_main or key in _held_locks:
        return
    try:
        import fcntl
    except ImportError:  # no advisory locks here (Windows): nothing to take
        return
    if create:
        os.makedirs(out, exist_ok=True)
    elif not os.path.isdir(out):
        return
    fd = os.open(out, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise CLIError(f"--out {out}: another minitx run is writing there; wait for it to end, or choose "
                       f"another --out") from None
    except OSError:  # a file system without locks (some network mounts): run unlocked, as before
        os.close(fd)
        return
    _held_locks[key] = fd


def release_locks():
    """Let go of every --out this process locked (main() calls it as a command ends)."""
    while _held_locks:
        os.close(_held_locks.popitem()[1])


def clear_out(out, found):
    """Take --out (lock_out), then with --overwrite delete the checkpoints check_out found
    (minitx's own, checked). Under MPI every rank has done its checks first, and rank 0
    alone deletes."""
    import shutil

    from ..distributed import world
    lock_out(out, create=True)
    world().barrier("the checks of --out")
    if not world().is_main:
        return
    for path in found.values():
        shutil.rmtree(path)


def resumed_run(args, model_types, command):
    """The last/ checkpoint of --out, checked to be a run of `model_types`, with its
    config's sections checked; None for a fresh run."""
    if not args.resume:
        return None
    from ..training.checkpoint import CONFIG, load_checkpoint, require
    last = os.path.join(args.out, "last")
    stored = load_checkpoint(last)
    where = os.path.join(last, CONFIG)
    kind = stored.config.get("model_type")
    if kind not in model_types:
        raise CLIError(f"{last}: holds a {kind} run; `minitx {command} --resume` continues a "
                       f"{' or '.join(model_types)} run")
    for section in ("model", "train", "options"):
        require(stored.config, section, dict, where)
    return stored


def check_model_options(args, stored, names, command):
    """On --resume, a typed model option must agree with the stored run's (same_run.keep)."""
    from .same_run import keep
    options = stored.config["options"]
    keep(args, {name: options.get(name) for name in names}, command, os.path.join(args.out, "last"))


def prepare(args, model_types, command, model_options=()):
    """The checks before anything is written: the --data file, the training options,
    --out (then its lock: one run writes there at a time), and on --resume the stored
    run (its kind and the typed model options).
    Returns (TrainConfig, the folders --overwrite deletes, the stored run or None)."""
    check_file("data", args.data)
    cfg = train_config(args)
    found = check_out(args)
    lock_out(args.out)
    stored = resumed_run(args, model_types, command)
    if stored is not None:
        check_model_options(args, stored, model_options, command)
        state = stored.trainer_state if isinstance(stored.trainer_state, dict) else {}
        step = state.get("step") if type(state.get("step")) is int else 0  # a bad one: Trainer.resume says so
        cfg = train_config(args, stored.config["train"], where=stored.config_file, step=step)
    return cfg, found, stored


def resume(trainer, args, cfg):
    trainer.resume()
    if cfg.decay_from_step == trainer.step:  # --max-iters moved the schedule's end (train_config)
        note(f"the learning rate decays on from {cfg.decay_from_lr:.3g} at step {trainer.step} to "
             f"{min(cfg.min_lr, cfg.lr):.3g} at step {cfg.max_iters}")
    note(f"resuming {args.out} at step {trainer.step} of {cfg.max_iters}"
         + ("; nothing to do: pass a larger --max-iters to train further (the learning rate then decays on "
            "from where it is, without a jump)" if trainer.step >= cfg.max_iters else ""))


def exit_code(summary):
    return EXIT_INTERRUPTED if summary["interrupted"] else 0
