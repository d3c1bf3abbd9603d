"""The docs run as written: every ```python block in README.md and docs/ is executed,
and every excerpt of library code still matches the file it was taken from.

A page's python blocks run in order in one namespace, as a reader would paste them
into one session, in an empty folder (the conftest fixture), so a block that writes
a file writes it there. Excerpts are fenced as ```text right under a marker line

    <!-- excerpt: minitx/kernels/layernorm.py -->

and each of their lines (blank lines and `...` aside) must be a line of that file,
up to indentation, so an excerpt cannot drift from the code it quotes. More
kinds of drift are caught: a constant quoted as "`NAME` = 2^23" must have that
value in minitx/, a file a page names must exist, every relative link must lead to
a file, every page must be linked from another, and a count of the mutants must be
tests/mutants.py's.
"""
import os
import re
import sys
from pathlib import Path

import pytest

import minitx as mt

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md"] + sorted((ROOT / "docs").rglob("*.md"))

FENCE = re.compile(r"^```(\S*)[^\n]*\n(.*?)^```[ \t]*$", re.S | re.M)
EXCERPT = re.compile(r"^<!-- excerpt: (\S+) -->\n```text\n(.*?)^```[ \t]*$", re.S | re.M)


def _name(page):
    return str(page.relative_to(ROOT))


def python_blocks(page):
    """(line number, code) of each ```python block of a page."""
    text = page.read_text()
    return [(text.count("\n", 0, m.start()) + 2, m[2])
            for m in FENCE.finditer(text) if m[1] == "python"]


PAGES_WITH_CODE = [p for p in PAGES if python_blocks(p)]


@pytest.fixture
def restored_torch_threads():
    """The tutorial's benchmark sets PyTorch to one thread; later tests get theirs back."""
    torch = sys.modules.get("torch")
    threads = torch.get_num_threads() if torch else None
    yield
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(threads or os.cpu_count())


@pytest.mark.parametrize("page", PAGES_WITH_CODE, ids=_name)
def test_every_python_block_runs(page, restored_torch_threads):
    namespace = {"__name__": "__docs__"}
    with mt.use_backend(mt.get_backend()):
        for line, code in python_blocks(page):
            # Blank lines in front keep the traceback's line numbers those of the page.
            exec(compile("\n" * (line - 1) + code, _name(page), "exec"), namespace)


def test_the_pages_have_code_to_run():
    names = {_name(p) for p in PAGES_WITH_CODE}
    assert {"README.md", "docs/autograd.md", "docs/tutorial.md", "docs/transformer.md"} <= names


@pytest.mark.parametrize("page", PAGES, ids=_name)
def test_every_fence_is_closed(page):
    # An unpaired ``` turns the rest of the page inside out, and can hide a block from the test.
    fences = re.findall(r"^```", page.read_text(), re.M)
    assert len(fences) % 2 == 0, f"{_name(page)}: {len(fences)} fence lines"


@pytest.mark.parametrize("page", PAGES, ids=_name)
def test_python_is_fenced_as_python(page):
    # A ```py or ```python3 block would silently escape the test above.
    for m in FENCE.finditer(page.read_text()):
        assert m[1].lower() not in ("py", "python3", "pycon", "ipython", "py3", "numpy") \
            and (m[1] == "python" or not m[1].lower().startswith("py")), \
            f"{_name(page)}: a ```{m[1]} block; fence Python as ```python, excerpts as ```text"


def _excerpts():
    return [(page, m[1], m[2]) for page in PAGES for m in EXCERPT.finditer(page.read_text())]


@pytest.mark.parametrize("page, source, excerpt", _excerpts(),
                         ids=lambda v: _name(v) if isinstance(v, Path) else str(v)[:20])
def test_every_excerpt_matches_its_source(page, source, excerpt):
    lines = {line.strip() for line in (ROOT / source).read_text().splitlines()}
    for line in excerpt.splitlines():
        line = line.strip()
        if line and line != "..." and not line.startswith("... "):
            assert line in lines, f"{_name(page)}: not a line of {source}: {line!r}"


def test_excerpts_are_marked():
    # Every ```text block that looks like code names its source, so the test above sees it.
    for page in PAGES:
        text = page.read_text()
        for m in FENCE.finditer(text):
            before = text[:m.start()].rstrip("\n").rsplit("\n", 1)[-1]
            if m[1] == "text" and re.search(r"^\s*(for |if |def |return |\w+ = )", m[2], re.M):
                assert before.startswith("<!-- excerpt: "), (
                    f"{_name(page)}: a ```text block of code with no <!-- excerpt: path --> above it")


def _constants():
    """NAME -> value of every module-level `NAME = <int expression>` in minitx/."""
    found = {}
    for path in (ROOT / "minitx").rglob("*.py"):
        for name, expr in re.findall(r"^(_?[A-Z][A-Z0-9_]+) = ([0-9][0-9 <*]*)(?:#.*)?$",
                                     path.read_text(), re.M):
            found.setdefault(name, set()).add(eval(expr))   # digits, spaces, << and * only
    return found


def test_constants_quoted_in_the_docs_are_the_codes():
    # "`PARALLEL_MIN_ELEMENTS` = 2^21" in a page, 1 << 23 in the code: the kind of figure that goes stale.
    constants = _constants()
    quoted = [(page, name, value) for page in PAGES for name, value in
              re.findall(r"`(_?[A-Z][A-Z0-9_]+)` = (2\^\d+|\d+)\b", page.read_text())]
    assert quoted
    for page, name, value in quoted:
        number = 2 ** int(value[2:]) if value.startswith("2^") else int(value)
        assert name in constants, f"{_name(page)}: {name} is not a constant of minitx/"
        assert number in constants[name], f"{_name(page)}: {name} = {value}, the code says {constants[name]}"


def test_files_named_in_the_docs_exist():
    for page in PAGES:
        for path in re.findall(r"`((?:minitx/|tests/|benchmarks/|kernels/|optim/|ops/|nn/)[\w/.]*\.py)", page.read_text()):
            assert any((base / path).exists() for base in (ROOT, ROOT / "minitx")), \
                f"{_name(page)}: {path} does not exist"


LINK = re.compile(r"\]\(([^)\s]+)\)")


def _local_links(page):
    """The relative targets of a page's markdown links and images, anchors dropped."""
    targets = [m[1].split("#", 1)[0] for m in LINK.finditer(page.read_text())]
    return [t for t in targets if t and not re.match(r"[a-z][a-z0-9+.-]*:", t)]


def test_links_in_the_docs_resolve():
    for page in PAGES:
        for target in _local_links(page):
            assert (page.parent / target).exists(), f"{_name(page)}: a link to {target}, which does not exist"


def test_every_page_is_linked():
    # A page no other page links to is a page no reader finds.
    linked = {(page.parent / t).resolve() for page in PAGES for t in _local_links(page)}
    for page in PAGES[1:]:
        assert page.resolve() in linked, f"{_name(page)}: no page links to it"


def test_mutant_counts_quoted_in_the_docs_are_the_lists():
    # "puts 61 plausible bugs" with 62 in tests/mutants.py: a count that goes stale as mutants are added.
    from tests.mutants import MUTANTS
    quoted = [(page, int(n or m)) for page in PAGES
              for n, m in re.findall(r"(\d+) plausible bugs|list holds (\d+)", page.read_text())]
    assert quoted
    for page, count in quoted:
        assert count == len(MUTANTS), f"{_name(page)}: {count} mutants quoted, tests/mutants.py has {len(MUTANTS)}"
