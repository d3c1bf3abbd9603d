"""Where Numba caches minitx's compiled kernels: a per-user folder, never the package.

The root is $MINITX_CACHE_DIR, else $XDG_CACHE_HOME/minitx, else ~/.cache/minitx.
Inside it, each build of the kernels has a folder of its own, named by a key:
minitx's version, Numba's, the CPU (name and features, as LLVM sees them) and a
hash of the kernel sources. Numba checks only the timestamp of the file a kernel
is defined in; the hash also covers the helpers that kernel inlines
(kernels/numba/_math.py, say), so editing any of them starts a fresh folder.
An unwritable root falls back to a temporary folder with a one-line warning.
Folders are made when a first kernel is written, not at import.
Nothing is written inside the installed package, so `pip uninstall` leaves none
of it behind.
"""
import hashlib
import os
import platform
import shutil
import stat
import sys
import tempfile

ENV = "MINITX_CACHE_DIR"
PREFIX = "kernels-"  # every keyed folder starts with it; `minitx cache clear` removes only those

_PACKAGE = os.path.dirname(os.path.abspath(__file__))
# The sources compiled into kernels: every .py file below these folders of the package.
SOURCE_DIRS = ("kernels", "optim")


def cache_root():
    """The folder the keyed kernel folders live in."""
    if os.environ.get(ENV):
        return os.path.abspath(os.path.expanduser(os.environ[ENV]))
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(os.path.abspath(base), "minitx")


def source_hash(package=_PACKAGE, dirs=SOURCE_DIRS):
    """sha256 over the relative paths and bytes of the kernel sources, 12 hex digits."""
    h = hashlib.sha256()
    for sub in dirs:
        for folder, subdirs, files in os.walk(os.path.join(package, sub)):
            subdirs[:] = sorted(d for d in subdirs if d != "__pycache__")
            for name in sorted(f for f in files if f.endswith(".py")):
                path = os.path.join(folder, name)
                h.update(os.path.relpath(path, package).encode())
                with open(path, "rb") as f:
                    h.update(f.read())
    return h.hexdigest()[:12]


def cache_key(version, numba_version):
    """The name of this build's folder under the root."""
    from llvmlite import binding as llvm
    cpu = llvm.get_host_cpu_name()
    features = hashlib.sha256(llvm.get_host_cpu_features().flatten().encode()).hexdigest()[:8]
    return (f"{PREFIX}{version}-numba{numba_version}-{platform.machine()}-{cpu}-{features}"
            f"-src{source_hash()}")


def _creatable(path):
    """Whether `path` is, or could be made as, a folder this process can write in, judged
    without writing anything: its nearest existing ancestor is a folder we may write."""
    while not os.path.lexists(path):
        path = os.path.dirname(path)
    return os.path.isdir(path) and os.access(path, os.W_OK | os.X_OK)


def _private_folder(path, make=True):
    """Whether `path` is a folder only this user can write, making it (mode 0700) if it
    is missing and `make`: found, it must be a real folder (not a link) owned by this
    user, with no write permission for group or others. Numba's cache index is a pickle,
    so a folder another user could write would let them run code in this process."""
    try:
        if make:
            os.mkdir(path, 0o700)
        elif not os.path.lexists(path):
            return True
    except FileExistsError:
        pass
    except OSError:
        return False
    st = os.lstat(path)
    return stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid() and not st.st_mode & 0o022


def choose_cache_dir(version, numba_version):
    """(keyed folder, private parent or None): the folder to cache in, under cache_root(),
    or under a temporary folder private to this user (with a one-line warning on stderr)
    when the root cannot be written, or would need a home or XDG folder that does not
    exist to be made. Nothing is created here (`minitx --help` leaves no folder behind):
    make_cache_dir() makes the folder when a first kernel is compiled into it."""
    key = cache_key(version, numba_version)
    root = cache_root()
    base = os.path.dirname(os.path.dirname(root))   # the home folder, or the XDG folder's parent
    if (os.environ.get(ENV) or os.path.isdir(base)) and _creatable(os.path.join(root, key)):
        return os.path.join(root, key), None
    fallback = os.path.join(tempfile.gettempdir(), f"minitx-cache-{os.getuid()}")
    if not _private_folder(fallback, make=False):   # another user's, or a link: a fresh one of our own
        fallback = tempfile.mkdtemp(prefix="minitx-cache-")
    print(f"minitx: warning: cannot write the kernel cache in {root}; using {fallback} "
          f"(set {ENV} to choose the folder)", file=sys.stderr)
    return os.path.join(fallback, key), fallback


def make_cache_dir(path, private_parent=None):
    """Make `path` (a kernel's cache folder), checking first that a temporary parent is
    still private to this user: it could have been made by someone else since it was chosen."""
    if private_parent and not _private_folder(private_parent):
        raise PermissionError(f"kernel cache folder {private_parent} is not private to this user "
                              f"(set {ENV} to choose the folder)")
    os.makedirs(path, exist_ok=True)


def cache_info(root=None):
    """{'root', 'folders', 'files', 'bytes'} of the kernel cache under root."""
    root = root or cache_root()
    folders, files, size = [], 0, 0
    if os.path.isdir(root):
        for name in sorted(os.listdir(root)):
            if not name.startswith(PREFIX):
                continue
            folders.append(name)
            for folder, _, names in os.walk(os.path.join(root, name)):
                for n in names:
                    files += 1
                    size += os.path.getsize(os.path.join(folder, n))
    return {"root": root, "folders": folders, "files": files, "bytes": size}


def clear_cache(root=None):
    """Delete every keyed kernel folder under root; returns how many were deleted.
    Anything else in root (a user's own files, if MINITX_CACHE_DIR names a shared
    folder) is left alone."""
    info = cache_info(root)
    for name in info["folders"]:
        shutil.rmtree(os.path.join(info["root"], name))
    return len(info["folders"])


def install(version):
    """Make Numba cache every minitx kernel under choose_cache_dir(); returns that folder.

    A locator of our own, tried before Numba's, claims the functions defined in this
    package only, so a user's own Numba functions keep Numba's defaults (and their
    NUMBA_CACHE_DIR). Should a Numba version lack the locator list, the folder is
    set for the whole process instead.
    """
    import numba
    from numba.core import caching

    folder, private_parent = choose_cache_dir(version, numba.__version__)

    class MinitxCacheLocator(caching._SourceFileBackedLocatorMixin, caching._CacheLocator):
        def __init__(self, py_func, py_file):
            self._py_file = py_file
            self._lineno = py_func.__code__.co_firstlineno
            # kernels/numba/gelu.py caches in <folder>/kernels/numba
            self._cache_path = os.path.join(folder, os.path.relpath(os.path.dirname(py_file), _PACKAGE))

        def get_cache_path(self):
            return self._cache_path

        def ensure_cache_path(self):   # called before the first kernel is written to the cache
            make_cache_dir(self._cache_path, private_parent)

        @classmethod
        def from_function(cls, py_func, py_file):
            # Numba's from_function would make the folder now, at import: leave it to
            # ensure_cache_path, so a command that compiles nothing creates nothing.
            if not os.path.abspath(py_file).startswith(_PACKAGE + os.sep):
                return None
            return cls(py_func, py_file)

    impl = getattr(caching, "CacheImpl", None) or getattr(caching, "_CacheImpl", None)
    locators = getattr(impl, "_locator_classes", None)
    if isinstance(locators, list) and hasattr(caching, "_SourceFileBackedLocatorMixin"):
        locators[:] = [c for c in locators if c.__name__ != "MinitxCacheLocator"]
        locators.insert(0, MinitxCacheLocator)
    else:
        make_cache_dir(folder, private_parent)
        numba.config.CACHE_DIR = folder
    return folder
