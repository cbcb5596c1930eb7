"""The front page and docs/ point at real things (reads files, and the command table; no subprocess).

In README.md and docs/*.md:
- every relative link and image is a file or folder of the repository, and a ``#anchor`` (into
  the same page or another Markdown file) is one of that file's headings, by GitHub's slug rules;
- in code (fenced blocks and inline spans): every ``make X`` is a Makefile target, every
  ``python -m nstlib SUBCOMMAND`` a subcommand that ``nstlib/cli/dispatch.py`` dispatches, every
  ``nstlib.a.b`` a module (or a name a module defines), every ``python -m nstlib.a.b`` a module
  that runs, and every path under nstlib/, tests/, scripts/, images/, notebooks/ or docs/ exists.

The links of the notebooks' Markdown cells, images/SOURCES.md and notebooks/CONTRIBUTING.md are
checked too (notebook 17 links sections that moved from README.md to docs/).

The last test feeds each check a broken example, so that none of them can pass vacuously.
"""

from __future__ import annotations

import ast
import functools
import json
import re
import unicodedata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
IGNORED = {".venv", "outputs", "build", "__pycache__", ".pytest_cache"}  # in .gitignore: not in the repository

FENCE = re.compile(r"^\s*(```|~~~)")
INLINE_CODE = re.compile(r"(`+)(.+?)\1")
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
MAKE = re.compile(r"(?<![\w./-])make[ \t]+([A-Za-z][\w.-]*)")
SUBCOMMAND = re.compile(r"-m[ \t]+nstlib[ \t]+([A-Za-z][\w-]*)")
RUN_MODULE = re.compile(r"-m[ \t]+(nstlib(?:\.\w+)+)")
DOTTED = re.compile(r"(?<![\w./-])nstlib(?:\.[A-Za-z_]\w*)+")
REPO_PATH = re.compile(r"(?<![\w./<-])((?:nstlib|tests|scripts|images|notebooks|docs)/[\w./-]*)")


def split(text: str) -> tuple[list[str], list[str]]:
    """(prose lines with inline code blanked, code: each fenced line and each inline span)."""
    prose, code, fenced = [], [], False
    for line in text.splitlines():
        if FENCE.match(line):
            fenced = not fenced
            continue
        if fenced:
            code.append(line)
            continue
        code += [m.group(2) for m in INLINE_CODE.finditer(line)]
        prose.append(INLINE_CODE.sub(lambda m: "code", line))
    return prose, code


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: its text, lower case, without punctuation, spaces as hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # links and images: their text
    text = text.replace("`", "").replace("*", "").strip().lower()
    kept = "".join(c for c in text if c in " -" or unicodedata.category(c)[0] in "LMN" or unicodedata.category(c) == "Pc")
    return kept.replace(" ", "-")


def anchors(text: str) -> set[str]:
    """Every heading's slug (outside fenced code), repeated ones numbered -1, -2, … as GitHub does."""
    seen: dict[str, int] = {}
    out = set()
    fenced = False
    for line in text.splitlines():
        if FENCE.match(line):
            fenced = not fenced
        if not fenced:  # an HTML anchor kept for old links: <a name="..."></a>
            out.update(re.findall(r"<a\s+(?:name|id)=\"([^\"]+)\"", line))
        m = None if fenced else re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)
        if m:
            base = slug(m.group(1))
            n = seen.get(base, 0)
            seen[base] = n + 1
            out.add(base if n == 0 else f"{base}-{n}")
    return out


@functools.cache
def make_targets() -> frozenset[str]:
    text = (ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([A-Za-z0-9][\w.-]*)\s*:(?!=)", text, flags=re.M))
    for phony in re.findall(r"^\.PHONY\s*:(.*)$", text, flags=re.M):
        targets.update(phony.split())
    return frozenset(targets)


@functools.cache
def subcommands() -> frozenset[str]:
    """The first arguments that ``python -m nstlib`` dispatches (:data:`nstlib.cli.dispatch.COMMANDS`)."""
    from nstlib.cli.dispatch import COMMANDS

    return frozenset(COMMANDS)


def module_file(dotted: str) -> Path | None:
    base = ROOT.joinpath(*dotted.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


@functools.cache
def top_level_names(path: Path) -> frozenset[str]:
    names = set()
    body = ast.parse(path.read_text()).body
    for node in [*body, *(n for i in body if isinstance(i, ast.If) for n in i.body)]:  # `if TYPE_CHECKING:` too
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                names.update(n.id for n in ast.walk(t) if isinstance(n, ast.Name))
    return frozenset(names)


def dotted_problem(dotted: str) -> str | None:
    """None if ``dotted`` is a module, or a name defined at the top of the longest module it starts with."""
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        path = module_file(".".join(parts[:i]))
        if path is None:
            continue
        rest = parts[i:]
        if not rest or (len(rest) == 1 and rest[0] in top_level_names(path)):
            return None
        return f"`{dotted}`: {'.'.join(parts[:i])} defines no {rest[0]!r}"
    return f"`{dotted}`: no such module"


def in_repository(path: Path) -> bool:
    try:
        relative = path.resolve().relative_to(ROOT)
    except ValueError:
        return False
    return path.exists() and not IGNORED.intersection(relative.parts)


def problems(page: Path, text: str) -> list[str]:
    """Everything in one page that points nowhere, one line each."""
    out = []
    prose, code = split(text)
    for line in prose:
        for target in LINK.findall(line):
            if re.match(r"[A-Za-z][\w+.-]*:|//", target):  # http:, https:, mailto:, //host
                continue
            path_part, _, anchor = target.partition("#")
            if not path_part:  # an anchor into this page
                if anchor not in anchors(text):
                    out.append(f"link {target!r}: this page has no heading with the anchor #{anchor}")
                continue
            dest = page.parent / path_part
            if not in_repository(dest):
                out.append(f"link {target!r}: no such file in the repository")
            elif anchor and dest.suffix == ".md" and anchor not in anchors(dest.read_text()):
                out.append(f"link {target!r}: {dest.name} has no heading with the anchor #{anchor}")
    for line in code:
        out += [f"`make {t}`: no such Makefile target" for t in MAKE.findall(line) if t not in make_targets()]
        out += [f"`python -m nstlib {c}`: no such subcommand (nstlib/cli/dispatch.py)"
                for c in SUBCOMMAND.findall(line) if c not in subcommands()]
        for mod in RUN_MODULE.findall(line):
            f = module_file(mod)
            if f is None or (f.name == "__init__.py" and not (f.parent / "__main__.py").is_file()):
                out.append(f"`python -m {mod}`: no such runnable module")
        out += [p for p in map(dotted_problem, DOTTED.findall(line)) if p]
        out += [f"`{p}`: no such path in the repository" for p in REPO_PATH.findall(line)
                if not in_repository(ROOT / p.rstrip("."))]
    return out


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_page_points_at_real_things(page):
    assert problems(page, page.read_text()) == []


OTHER_MARKDOWN = [ROOT / "images" / "SOURCES.md", ROOT / "notebooks" / "CONTRIBUTING.md"]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", OTHER_MARKDOWN + NOTEBOOKS, ids=lambda p: str(p.relative_to(ROOT)))
def test_links_elsewhere_point_at_real_things(path):
    """The notebooks' Markdown cells and the other Markdown files link into README.md and docs/ too."""
    text = path.read_text()
    if path.suffix == ".ipynb":
        text = "\n".join("".join(c["source"]) for c in json.loads(text)["cells"] if c["cell_type"] == "markdown")
    assert [p for p in problems(path, text) if p.startswith("link")] == []


def test_every_docs_page_is_reachable_from_the_front_page():
    """README.md links docs/README.md, and that index links every other page in docs/."""
    linked = {(ROOT / t.partition("#")[0]).resolve() for line in split((ROOT / "README.md").read_text())[0]
              for t in LINK.findall(line) if t.startswith("docs/")}
    index = (ROOT / "docs" / "README.md").resolve()
    assert index in linked
    index_links = {(ROOT / "docs" / t.partition("#")[0]).resolve() for line in split(index.read_text())[0]
                   for t in LINK.findall(line)}
    missing = [p.name for p in PAGES[1:] if p.resolve() != index and p.resolve() not in index_links]
    assert missing == [], "docs pages missing from docs/README.md"


def test_cli_page_lists_every_flag_of_the_gatys_command():
    """Every option that nstlib/cli/gatys.py adds to its parser has a row in docs/cli.md."""
    tree = ast.parse((ROOT / "nstlib" / "cli" / "gatys.py").read_text())
    flags = {node.args[0].value for node in ast.walk(tree)
             if isinstance(node, ast.Call) and isinstance(node.func, (ast.Attribute, ast.Name))
             and getattr(node.func, "attr", getattr(node.func, "id", "")) in ("add_argument", "p_add")
             and node.args and isinstance(node.args[0], ast.Constant) and str(node.args[0].value).startswith("--")}
    assert len(flags) > 20
    documented = set(re.findall(r"`(--[a-z_]+)", (ROOT / "docs" / "cli.md").read_text()))
    assert sorted(flags - documented) == []


def test_what_the_checks_read():
    assert {"demo", "test", "bench", "bench-tiling", "figures"} <= make_targets()
    assert {"train", "fast", "adain", "wct", "models", "video", "mesh", "batch"} <= subcommands()
    assert slug("Measured: `make bench-tiling`") == "measured-make-bench-tiling"
    assert slug("3D: one texture, consistent from every view") == "3d-one-texture-consistent-from-every-view"
    assert anchors("# A\n## Measured\n```\n# not a heading\n```\n## Measured\n") == {"a", "measured", "measured-1"}
    assert anchors('<a name="old-section"></a>\n') == {"old-section"}


def test_each_check_catches_a_broken_example():
    page = ROOT / "docs" / "example.md"
    broken = {
        "[cli](cli_missing.md)": "no such file",
        "![fig](images/figures/00_first_result.png)": "no such file",  # from docs/, it needs ../
        "[x](outputs/demo.png)": "no such file",
        "[cli](cli.md#no-such-heading)": "no heading",
        "[here](#no-such-heading)": "no heading",
        "`make no-such-target`": "no such Makefile target",
        "```bash\npython -m nstlib nosuchcommand --x 1\n```": "no such subcommand",
        "`python -m nstlib.no_such_module`": "no such runnable module",
        "`python -m nstlib.scale`": "no such runnable module",  # a package without __main__
        "`nstlib.core.losses.no_such_name`": "defines no",
        "`nstlib.tilebench`": "defines no 'tilebench'",  # the module before the reorganisation
        "`tests/test_tiling.py`": "no such path",  # the path before the reorganisation
    }
    for text, expected in broken.items():
        found = problems(page, text + "\n")
        assert any(expected in f for f in found), (text, found)
    fine = ("[cli](cli.md#what-every-command-promises) [front](../README.md#quick-start) ![f](../images/figures/00_first_result.png) "
            "[web](https://example.org/x) `make demo` `python -m nstlib video` `python -m nstlib.bench.tiling` "
            "`nstlib.load_model` `nstlib.scale.memory.max_side_for_budget` `tests/scale/test_tiling.py` "
            "`nstlib/data/images/style/`")
    assert problems(page, fine + "\n") == []
