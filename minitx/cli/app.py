"""`minitx`: the parser, the list of commands, and how errors reach the user.

Each command module has `add_*` functions that add a parser to a subparsers
object and set `run` (a function of the parsed args returning an exit code).
COMMANDS lists the top-level ones. Command modules import heavy things (models,
kernels) inside `run`, so `--help` stays fast.

Errors a user can fix (a missing file, a bad size, a damaged checkpoint) print
one line on stderr and exit with 1 (2 for a malformed command line); no traceback.
MINITX_DEBUG=1 shows the traceback.

Under mpirun (minitx/distributed) rank 0 alone prints: the other ranks' stdout
goes nowhere. An error every rank meets alike (a bad option, a diverged run) is
printed once, by rank 0; any other error on a rank is printed with its rank and
ends the whole job (MPI Abort), so no rank is left waiting for it.
"""
import argparse
import os
import sys

EXIT_ERROR, EXIT_USAGE, EXIT_INTERRUPTED, EXIT_BROKEN_PIPE = 1, 2, 130, 141  # 128 + signal, as a shell says


class CLIError(Exception):
    """An error the user can fix; main prints its message as one line."""


class _Store(argparse._StoreAction):
    """store, remembering which options were typed (args._given), so --resume can
    tell an explicit --lr from the default."""

    def __call__(self, parser, namespace, values, option_string=None):
        super().__call__(parser, namespace, values, option_string)
        given = set(getattr(namespace, "_given", ()))
        namespace._given = given | {self.dest}


class _Formatter(argparse.ArgumentDefaultsHelpFormatter):
    """Adds "(default: ...)" to each option's help, unless the help already tells
    it or there is nothing to tell (None, a flag that is off, an empty string)."""

    def _get_help_string(self, action):
        if action.default in (None, False, "") or "default" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


class Parser(argparse.ArgumentParser):
    """Shows defaults in --help; a bad argument is one line on stderr, exit 2."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", _Formatter)
        super().__init__(*args, **kwargs)
        self.register("action", None, _Store)
        self.register("action", "store", _Store)

    def error(self, message):
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


_quiet = False   # a rank other than 0 of an MPI job: notes are rank 0's to print


def note(message):
    if not _quiet:
        print(message, file=sys.stderr, flush=True)


def _commands():
    from . import bert, cache, check, export, gpt, predict, prepare, report, training
    return [training.add_train, gpt.add_sample, bert.add_finetune, bert.add_embed, export.add_export,
            cache.add_cache, check.add_check, predict.add_predict, prepare.add_prepare, report.add_report]


def build_parser():
    parser = Parser(prog="minitx", description="minitx: a readable transformer engine (NumPy + Numba).")
    from .. import __version__
    parser.add_argument("--version", action="version", version=f"minitx {__version__}")
    commands = parser.add_subparsers(title="commands", dest="command", metavar="COMMAND", required=True)
    for add in _commands():
        add(commands)
    from .config_file import add_config_option
    add_config_option(parser)
    return parser


def main(argv=None, **options):
    """Run a command: `argv` its words, as the shell passes them; `options` more of its
    options by name, as a --config file gives them (main(["train", "gpt"], max_iters=50)),
    among them Python rows where a command reads examples (finetune bert's data)."""
    global _quiet
    from ..distributed import launched_rank
    # before parsing: argparse's own errors are printed once, too
    _quiet = launched_rank() != 0
    if _quiet:
        sys.stdout = open(os.devnull, "w")
    from .config_file import parse_args
    args = parse_args(build_parser(), argv, options)
    world = None
    try:
        from ..backend import get_backend
        get_backend()  # a bad MINITX_BACKEND is one line here, not a traceback in a kernel
        from ..distributed import launched_size
        if launched_size() > 1 and not getattr(args, "distributed", False):
            raise CLIError(f"`minitx {args.command}` runs in one process; of the commands only the training "
                           f"ones (train, finetune) run under mpirun")
        if getattr(args, "distributed", False):
            from ..distributed import world as find_world
            world = find_world()
            if world.size > 1:
                note(world.describe())
        return args.run(args)
    except KeyboardInterrupt:
        note("minitx: interrupted")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # the reader went away (`minitx embed ... | head -1`): stop quietly, as `yes | head` does; stdout's
        # file becomes /dev/null so that Python's own flush at exit finds no pipe to complain about
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except Exception as e:
        from ..distributed import CollectiveTimeout, DistributedError
        from ..training.checkpoint import CheckpointError
        from ..training.trainer import TrainingDiverged
        if world is not None and world.size > 1 and not isinstance(e, (CLIError, TrainingDiverged, DistributedError)) \
                or isinstance(e, CollectiveTimeout):
            # met by this rank alone (most likely): say so, and take the job down with it
            print(f"minitx: error on rank {world.rank} of {world.size}: {type(e).__name__}: {e}; stopping "
                  f"every rank", file=sys.stderr, flush=True)
            if os.environ.get("MINITX_DEBUG"):
                import traceback
                traceback.print_exc()
            world.abort(EXIT_ERROR)
        if os.environ.get("MINITX_DEBUG") or not isinstance(
                e, (CLIError, CheckpointError, TrainingDiverged, OSError, ValueError, DistributedError, MemoryError)):
            raise
        # numpy's MemoryError says "Unable to allocate 96.0 GiB for an array with shape (65536, 393216) ..."
        note(f"minitx: error: {'out of memory: ' if isinstance(e, MemoryError) else ''}{e}")
        if world is None:   # under mpirun, an error met before the job was set up
            from ..distributed.world import exit_with_every_rank
            exit_with_every_rank()
        return EXIT_ERROR
    finally:
        from .training import release_locks
        release_locks()
