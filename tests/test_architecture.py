"""The package's own import-linter contract type (``tests/import_contracts.py``) reports what it should.

``make test`` runs ``lint-imports`` on nstlib itself; these tests plant imports in a small
temporary package and check that exactly the private ones are reported, by the function and
through ``lint-imports`` as ``make test`` runs it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from import_contracts import imports_in_functions, private_imports

REPO = Path(__file__).resolve().parents[1]

PLANTED = {
    "__init__.py": "__version__ = '1'\n",
    "a.py": "_secret = 1\npublic = 2\n\ndef _helper():\n    return 3\n",
    "b.py": "from .a import _secret, public\n",
    "c.py": "def f():\n    from plantpkg.a import _helper\n    return _helper()\n",
    "d.py": "from . import __version__\nfrom .a import public as _alias\n",
    "sub/__init__.py": "",
    "sub/e.py": "from ..a import (\n    public,\n    _secret,\n)\n",
    "f.py": "from os.path import _get_sep\n",  # another package's private name: not ours to judge
}


@pytest.fixture()
def planted(tmp_path, monkeypatch) -> Path:
    for name, text in PLANTED.items():
        path = tmp_path / "plantpkg" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def test_private_imports_finds_each_private_name_imported_across_modules(planted):
    modules = {"plantpkg", "plantpkg.a", "plantpkg.b", "plantpkg.c", "plantpkg.d", "plantpkg.sub", "plantpkg.sub.e",
               "plantpkg.f"}
    assert private_imports("plantpkg", modules) == [
        ("plantpkg.b", 1, "plantpkg.a", "_secret"),
        ("plantpkg.c", 2, "plantpkg.a", "_helper"),  # inside a function too
        ("plantpkg.sub.e", 1, "plantpkg.a", "_secret"),  # relative, two levels, parenthesised
    ]


def test_imports_in_functions_finds_the_package_own_imports_only(planted):
    modules = {"plantpkg", "plantpkg.a", "plantpkg.b", "plantpkg.c", "plantpkg.d", "plantpkg.sub", "plantpkg.sub.e",
               "plantpkg.f"}
    (planted / "plantpkg" / "g.py").write_text("def f():\n    import os\n    import plantpkg.a\n    return os\n")
    assert imports_in_functions("plantpkg", modules | {"plantpkg.g"}) == [
        ("plantpkg.c", 2, "plantpkg.a"),  # from plantpkg.a import _helper, inside f
        ("plantpkg.g", 3, "plantpkg.a"),  # import plantpkg.a inside f; os is not the package's
    ]


def test_lint_imports_reports_a_planted_private_import(planted):
    config = planted / "contracts.toml"
    config.write_text(textwrap.dedent("""
        [tool.importlinter]
        root_package = "plantpkg"
        contract_types = [
            "private_names: tests.import_contracts.PrivateNamesContract",
            "top_level_imports: tests.import_contracts.TopLevelImportsContract",
        ]

        [[tool.importlinter.contracts]]
        name = "no private names"
        type = "private_names"

        [[tool.importlinter.contracts]]
        name = "top-level imports"
        type = "top_level_imports"
    """))
    lint = Path(sys.executable).with_name("lint-imports")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(planted)])}
    proc = subprocess.run([str(lint), str(config), "--no-cache", "--no-logo"], cwd=planted, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "plantpkg.b (l.1) imports the private name _secret of plantpkg.a" in proc.stdout
    assert "_alias" not in proc.stdout and "__version__" not in proc.stdout
    assert "plantpkg.c (l.2) imports plantpkg.a inside a function" in proc.stdout
    (planted / "plantpkg" / "b.py").write_text("from .a import public\n")
    (planted / "plantpkg" / "c.py").write_text("")
    (planted / "plantpkg" / "sub" / "e.py").write_text("")
    proc = subprocess.run([str(lint), str(config), "--no-cache", "--no-logo"], cwd=planted, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
