"""The pure packages import neither Flask nor SQLAlchemy (DESIGN §3), checked in a fresh interpreter."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PURE_MODULES = [
    "verification",
    "verification.identity",
    "verification.diseases",
    "verification.policy",
    "verification.policy_files",
    "verification.coverage",
    "verification.report",
    "verification.records",
    "verification.checks",
    "verification.case",
]
FORBIDDEN = ("flask", "sqlalchemy", "fundraise")


def _modules_to_import() -> list[str]:
    modules = list(PURE_MODULES)
    # matching/ is built by another issue; include it as soon as it exists.
    if importlib.util.find_spec("matching") is not None:
        modules.append("matching")
        modules.extend(
            f"matching.{path.stem}"
            for path in sorted((ROOT / "matching").glob("*.py"))
            if path.stem != "__init__"
        )
    return modules


def test_pure_packages_load_without_the_web_stack() -> None:
    program = (
        "import importlib, json, sys\n"
        f"for name in {_modules_to_import()!r}:\n"
        "    importlib.import_module(name)\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    completed = subprocess.run(
        [sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(ROOT)!r})\n{program}"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    loaded = json.loads(completed.stdout)
    for forbidden in FORBIDDEN:
        leaked = [name for name in loaded if name == forbidden or name.startswith(f"{forbidden}.")]
        assert not leaked, f"importing the pure packages loaded {leaked}"
