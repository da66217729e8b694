"""Schemathesis, from the API's own document, against the running API: it must pass."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_schemathesis_finds_no_server_error_and_no_answer_breaking_the_document(api_url):
    st = Path(sys.executable).parent / "st"
    result = subprocess.run(
        [
            str(st),
            "run",
            f"{api_url}/openapi.json",
            "--checks",
            "all",
            "--max-examples",
            "50",
            "--seed",
            "1",
            "--no-color",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert "No issues found" in result.stdout
