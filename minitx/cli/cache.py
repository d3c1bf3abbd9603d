"""`minitx cache info` and `minitx cache clear`: the per-user folder of compiled kernels."""


def add_cache(commands):
    p = commands.add_parser("cache", help="show or empty the compiled-kernel cache",
                            description="The folder Numba caches minitx's compiled kernels in "
                                        "(MINITX_CACHE_DIR, else $XDG_CACHE_HOME/minitx, else ~/.cache/minitx).")
    actions = p.add_subparsers(title="actions", dest="action", metavar="ACTION", required=True)
    actions.add_parser("info", help="the folder, its size, and the folder this build uses").set_defaults(run=info)
    actions.add_parser("clear", help="delete every cached build of the kernels").set_defaults(run=clear)


def info(args):
    import numba

    from .. import __version__
    from ..kernel_cache import cache_info, cache_key
    found = cache_info()
    mine = cache_key(__version__, numba.__version__)
    print(f"kernel cache: {found['root']}")
    print(f"this build:   {mine}" + ("" if mine in found["folders"] else " (not compiled yet)"))
    print(f"{len(found['folders'])} build(s), {found['files']} files, {found['bytes'] / 1e6:.1f} MB")
    return 0


def clear(args):
    from ..kernel_cache import cache_root, clear_cache
    removed = clear_cache()
    print(f"kernel cache: {cache_root()}: deleted {removed} build(s)")
    return 0
