"""The package graph: import-linter's contracts in setup.cfg hold (issue #12).

`lint-imports` runs as the command CI and people run, in its own process (it sets up
logging and sys.path for itself).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import grimp

ROOT = Path(__file__).parents[1]


def test_the_import_contracts_hold():
    lint_imports = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run(
        [str(lint_imports), "--no-cache", "--no-logo", str(ROOT / "setup.cfg")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


def test_type_checking_imports_are_part_of_the_graph():
    # The contracts are checked on grimp's default graph, which keeps imports made
    # under `if TYPE_CHECKING:` (keys.py imports Settings only there).
    graph = grimp.build_graph("proxy")
    assert graph.direct_import_exists(importer="proxy.keys", imported="proxy.settings")
