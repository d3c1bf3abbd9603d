"""Options from somewhere other than the command line: `--config FILE` (TOML), and
keywords to `main` in Python. Both become the command's defaults, so a flag typed
on the command line wins; argparse converts and checks each value as if it were typed.

    # finetune.toml: `minitx finetune bert --config finetune.toml --lr 3e-4`
    task = "classify"
    data = "reviews.csv"
    label-column = "sentiment"     # or label_column: dashes and underscores alike
    max-iters = 500
    no-progress = true             # a flag: true or false

Keys are the command's options without their dashes; values are strings, numbers,
booleans (flags) or lists (options that take several values). The run records the
file (checkpoint config.json, "config_file").
"""
import argparse
import os


def add_config_option(parser):
    """--config FILE on every command (the parsers without subcommands)."""
    for leaf in _leaves(parser):
        leaf.add_argument("--config", metavar="FILE.toml", help="options from a TOML file (`lr = 3e-4`, "
                          "`no-progress = true`); an option typed on the command line wins (docs/config.md)")


def parse_args(parser, argv=None, keywords=None):
    """argparse's parse_args, with the options of --config FILE and then `keywords` as
    the defaults of the command they name."""
    first = _parse_loosely(parser, argv)
    if first.config is None and not keywords:
        return parser.parse_args(argv)
    leaf = _command_parser(parser, first)
    # set_defaults overwrites each action's default: keep the parser's own, for the typed flag that wins
    own = {a.dest: a.default for a in leaf._actions}
    applied, record = {}, None
    if first.config is not None:
        table, text = _read_toml(leaf, first.config)
        applied.update(_apply(leaf, table, first.config))
        record = {"path": os.path.abspath(first.config), "text": text}
    applied.update(_apply(leaf, keywords or {}, "main()"))
    args = parser.parse_args(argv)
    _settle_exclusive_groups(leaf, args, applied, own, first.config or "main()")
    # options from the file count as given (on --resume they override the run's stored ones)
    args._given = set(getattr(args, "_given", ())) | set(applied)
    args.config_file = record
    return args


def config_record(args, stored=None):
    """{"config_file": {"path", "text"}} for a checkpoint's config: this command's --config,
    else (on --resume) the one the run recorded; {} when there is none."""
    record = getattr(args, "config_file", None)
    if record is None and stored is not None:
        record = stored.config.get("config_file")
    return {} if record is None else {"config_file": record}


def _leaves(parser):
    """The parsers of the commands (those with no subcommands), each once (aliases share one)."""
    seen, todo = [], [parser]
    while todo:
        p = todo.pop(0)
        subs = [a for a in p._actions if isinstance(a, argparse._SubParsersAction)]
        if not subs and all(p is not q for q in seen):
            seen.append(p)
        todo += [child for sub in subs for child in sub.choices.values()]
    return seen


def _parse_loosely(parser, argv):
    """The command and --config, before the required options are checked (the file may give them)."""
    required = [a for leaf in _leaves(parser) for a in leaf._actions if a.required]
    for action in required:
        action.required = False
    try:
        return parser.parse_known_args(argv)[0]
    finally:
        for action in required:
            action.required = True


def _command_parser(parser, args):
    """The parser of the command `args` ran (its prog: 'minitx finetune bert')."""
    while True:
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not subs:
            return parser
        parser = subs[0].choices[getattr(args, subs[0].dest)]


def _read_toml(leaf, path):
    import tomllib

    from ..tokenizers._files import read_text
    if not os.path.isfile(path):
        leaf.error(f"--config {path}: {'is a folder' if os.path.isdir(path) else 'no such file'}")
    try:
        text = read_text(path)
        return tomllib.loads(text), text
    except tomllib.TOMLDecodeError as e:  # its message ends "(at line 3, column 7)"
        leaf.error(f"--config {path}: not valid TOML: {e}")
    except ValueError as e:  # invalid UTF-8, named by line
        leaf.error(f"--config {e}")


def _apply(leaf, table, where):
    """Set the command's defaults from `table` ({key: value}); returns {dest: value}."""
    by_name = {s[2:]: a for a in leaf._actions for s in a.option_strings
               if s.startswith("--") and a.dest not in ("help", "version", "config")}
    takes_rows = leaf.get_default("takes_rows") or ()
    applied = {}
    for key, value in table.items():
        action = by_name.get(str(key).replace("_", "-"))
        if action is None:
            leaf.error(f"{where}: {key!r} is not an option of `{leaf.prog}` (`{leaf.prog} --help` lists them)")
        applied[action.dest] = _value(leaf, action, f"{where}: {key!r}", value, takes_rows)
        leaf.set_defaults(**{action.dest: applied[action.dest]})
        action.required = False
    return applied


def _value(leaf, action, what, value, takes_rows):
    """`value` converted and checked by argparse as the option's typed words would be."""
    if action.dest in takes_rows and not isinstance(value, (str, os.PathLike)):
        return value  # rows given in Python (a list of dicts, a datasets.Dataset): the command reads them
    if action.nargs == 0:  # a flag (store_true, store_false, store_const)
        if not isinstance(value, bool):
            leaf.error(f"{what} is a flag: give true or false, not {value!r}")
        return action.const if value else action.default
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        words = [str(value)]
    elif isinstance(value, list) and action.nargs not in (None, "?"):
        words = [str(v) for v in value]
    else:
        leaf.error(f"{what} takes {'a value' if action.nargs in (None, '?') else 'a list of values'}, "
                   f"not {type(value).__name__} {value!r:.40}")
    try:
        return leaf._get_values(action, words)
    except argparse.ArgumentError as e:
        leaf.error(f"{what}: {e.message}")


def _settle_exclusive_groups(leaf, args, applied, own, where):
    """Of options that exclude each other (--resume, --overwrite), one typed on the
    command line wins over the file's; two from the file are an error."""
    for group in leaf._mutually_exclusive_groups:
        on = [a for a in group._group_actions if getattr(args, a.dest) not in (None, False)]
        from_file = [a for a in on if a.dest in applied]
        if len(from_file) > 1:
            leaf.error(f"{where}: {' and '.join(repr(a.dest) for a in from_file)} exclude each other")
        if len(on) > len(from_file):
            for action in from_file:
                setattr(args, action.dest, own[action.dest])
                del applied[action.dest]
