"""ruff's lint and format checks pass on the whole tree: part of the suite, like any test."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from devstack.services import ROOT

RUFF = Path(sys.executable).parent / "ruff"


@pytest.mark.parametrize("check", [["check", "."], ["format", "--check", "."]])
def test_ruff_is_satisfied(check):
    result = subprocess.run(
        [str(RUFF), *check], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
