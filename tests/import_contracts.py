"""Import-linter contract types of this project: no private names across modules; internal imports at the top.

``private_names``: no module imports another module's private names.

``make test`` runs ``lint-imports``; ``pyproject.toml`` declares this type under
``[tool.importlinter] contract_types`` and one contract of it for ``nstlib``. A name is private
when it starts with one underscore (``_helper``; dunders such as ``__version__`` are not). The
contract reads every import statement of every module of the root package, those inside
functions too, and reports each ``from <module> import _name`` whose module is another module of
the package. ``tests/test_architecture.py`` plants a violation in a temporary package to show
that it is reported.

``top_level_imports``: every import of the package's own modules stands at module level, so a
module's dependencies show at its top (optional third-party extras such as PyAV stay lazy: they
are not the package's own modules).
"""

from __future__ import annotations

import ast
import importlib.util
from collections.abc import Iterator
from pathlib import Path

from importlinter.application import output
from importlinter.domain.contract import Contract, ContractCheck

__all__ = ["PrivateNamesContract", "TopLevelImportsContract", "imports_in_functions", "private_imports"]


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _module_file(root_dir: Path, module: str) -> Path | None:
    parts = module.split(".")[1:]
    for candidate in (root_dir.joinpath(*parts).with_suffix(".py"), root_dir.joinpath(*parts, "__init__.py")):
        if parts and candidate.is_file():
            return candidate
    return root_dir / "__init__.py" if not parts else None


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    """The absolute module that ``node`` (in ``module``) imports from."""
    if not node.level:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def _package_trees(root: str, modules: set[str]) -> Iterator[tuple[str, Path, ast.Module]]:
    """``(module, file, syntax tree)`` for each of ``modules`` that is a file of the package ``root``."""
    spec = importlib.util.find_spec(root)
    if spec is None or not spec.submodule_search_locations:
        raise ValueError(f"{root} is not an importable package")
    root_dir = Path(next(iter(spec.submodule_search_locations)))
    for module in sorted(modules):
        path = _module_file(root_dir, module)
        if path is not None:
            yield module, path, ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def private_imports(root: str, modules: set[str]) -> list[tuple[str, int, str, str]]:
    """Every ``(importer, line, imported module, name)`` where a module of ``root`` imports a
    private name of another module of ``root``."""
    found = []
    for module, path, tree in _package_trees(root, modules):
        for node in ast.walk(tree):
            if not isinstance(node, ast.ImportFrom):
                continue
            source = _resolve(module, path.name == "__init__.py", node)
            if source != module and (source == root or source.startswith(root + ".")):
                found += [(module, node.lineno, source, a.name) for a in node.names if _is_private(a.name)]
    return found


def imports_in_functions(root: str, modules: set[str]) -> list[tuple[str, int, str]]:
    """Every ``(module, line, imported module)`` where a module of ``root`` imports one of
    ``root``'s modules inside a function."""
    found = []
    for module, path, tree in _package_trees(root, modules):
        for func in ast.walk(tree):
            if not isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(func):
                if isinstance(node, ast.ImportFrom):
                    source = _resolve(module, path.name == "__init__.py", node)
                elif isinstance(node, ast.Import):
                    source = next((a.name for a in node.names if a.name.split(".")[0] == root), "")
                else:
                    continue
                if source == root or source.startswith(root + "."):
                    found.append((module, node.lineno, source))
    return sorted(set(found))


def _packages(session_options: dict, graph) -> Iterator[tuple[str, set[str]]]:
    """Each root package of the configuration, with its modules in import-linter's graph."""
    roots = session_options.get("root_packages") or [session_options["root_package"]]
    for root in [roots] if isinstance(roots, str) else roots:
        yield root, {m for m in graph.modules if m == root or m.startswith(root + ".")}


class PrivateNamesContract(Contract):
    """Modules of the root package import only public names from each other."""

    def check(self, graph, verbose: bool) -> ContractCheck:  # noqa: ARG002 - the interface's signature
        found = []
        for root, modules in _packages(self.session_options, graph):
            found += private_imports(root, modules)
        return ContractCheck(kept=not found, metadata={"private_imports": found})

    def render_broken_contract(self, check: ContractCheck) -> None:
        for importer, line, source, name in check.metadata["private_imports"]:
            output.print_error(f"{importer} (l.{line}) imports the private name {name} of {source}", bold=False)
            output.new_line()


class TopLevelImportsContract(Contract):
    """Modules of the root package import each other at module level, never inside a function."""

    def check(self, graph, verbose: bool) -> ContractCheck:  # noqa: ARG002 - the interface's signature
        found = []
        for root, modules in _packages(self.session_options, graph):
            found += imports_in_functions(root, modules)
        return ContractCheck(kept=not found, metadata={"imports": found})

    def render_broken_contract(self, check: ContractCheck) -> None:
        for module, line, source in check.metadata["imports"]:
            output.print_error(f"{module} (l.{line}) imports {source} inside a function", bold=False)
            output.new_line()
