"""Schemathesis, from the API's own document, against the running API: it must pass.

It runs as a signed-up user (so protected routes are fuzzed past authentication),
naming another real user wherever a route takes a user, except for logging out, which
would end the session the rest of the run uses.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path


def _sign_up(http) -> dict:
    name = f"fuzz_{uuid.uuid4().hex[:12]}"
    account = http.post(
        "/accounts",
        json={"username": name, "email": f"{name}@example.com", "password": "fuzzing-password"},
    )
    assert account.status_code == 201, account.text
    return account.json()


def test_schemathesis_finds_no_server_error_and_no_answer_breaking_the_document(
    api_url, http, tmp_path
):
    fuzzer, other = _sign_up(http), _sign_up(http)
    config = tmp_path / "schemathesis.toml"
    config.write_text(
        "[parameters]\n"
        f'"path.user_id" = {other["user"]["id"]}\n'
        f'"path.username" = "{other["user"]["username"]}"\n'
        # The document can say "format: email" but not that special-use domains
        # (example.test, localhost) are refused: sign-up may reject such valid-looking data.
        "[checks]\n"
        "enabled = true\n"  # every check (the document's and the server-error ones)
        "[[operations]]\n"
        'include-operation-id = "sign_up"\n'
        "checks.positive_data_acceptance.enabled = false\n"
        # Nor that a tag is letters, digits and marks of any script (no JSON Schema
        # pattern says so), nor its length once normalized: the server checks those.
        "[[operations]]\n"
        'include-operation-id = "tag_media"\n'
        "checks.positive_data_acceptance.enabled = false\n"
        "[[operations]]\n"
        'include-operation-id = "search_tags"\n'
        "checks.positive_data_acceptance.enabled = false\n"
    )
    st = Path(sys.executable).parent / "st"
    result = subprocess.run(
        [
            str(st),
            "--config-file",
            str(config),
            "run",
            f"{api_url}/openapi.json",
            "--max-examples",
            "30",
            "--seed",
            "1",
            "--no-color",
            "--header",
            f"Authorization: Bearer {fuzzer['session']['token']}",
            "--exclude-operation-id",
            "log_out",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert "failure" not in result.stdout, result.stdout[-6000:]
    # Protected routes were reached: the token worked all along.
    assert "Authentication failed" not in result.stdout, result.stdout[-6000:]
