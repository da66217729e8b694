"""The operators' Lambda: `photofeed` command lines run with the stack's settings, their
output and exit status answered, bad payloads refused."""

from __future__ import annotations

import uuid

import click
import pytest

from devstack.pump import LambdaContext
from functions.ops import handler as ops


def _invoke(payload: object) -> dict:
    return ops.lambda_handler(payload, LambdaContext("ops", aws_request_id=str(uuid.uuid4())))


def test_a_command_runs_with_the_stages_settings_and_answers_its_output(settings):
    answer = _invoke({"command": ["shards", "list"]})

    assert answer["exit_status"] == 0
    for database in settings.databases:
        assert database in answer["output"]


def test_a_refused_argument_answers_clicks_usage_status_and_reason(settings):
    answer = _invoke({"command": ["shards", "show", str(settings.logical_shards + 5)]})

    assert answer["exit_status"] == 2
    assert "Invalid value" in answer["output"]


def test_help_is_an_answer_not_a_failure():
    answer = _invoke({"command": ["--help"]})

    assert answer["exit_status"] == 0
    assert "Commands:" in answer["output"]
    assert "shards" in answer["output"]


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"command": []},
        {"command": "db migrate"},
        {"command": ["db", 7]},
        {"command": ["x"] * (ops.MAX_ARGUMENTS + 1)},
        ["db", "migrate"],
    ],
)
def test_a_payload_that_is_not_a_command_line_is_refused(payload):
    answer = _invoke(payload)

    assert answer["exit_status"] == 2
    assert "list of strings" in answer["output"]


def test_a_command_that_crashes_answers_status_1_with_its_output_and_traceback(monkeypatch):
    @click.command()
    @click.argument("word")
    def crashing(word: str) -> None:
        click.echo("started")
        raise RuntimeError("the dependency went away")

    monkeypatch.setattr(ops, "cli", crashing)

    answer = _invoke({"command": ["now"]})

    assert answer["exit_status"] == 1
    assert "started" in answer["output"]
    assert "RuntimeError: the dependency went away" in answer["output"]


def test_a_command_exiting_with_its_own_status_answers_it(monkeypatch):
    @click.command()
    @click.argument("word")
    @click.pass_context
    def exiting(ctx: click.Context, word: str) -> None:
        ctx.exit(3)

    monkeypatch.setattr(ops, "cli", exiting)

    assert _invoke({"command": ["now"]})["exit_status"] == 3
