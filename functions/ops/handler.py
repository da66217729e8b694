"""Operator commands run inside the stage's VPC, where the databases and Redis are.

The VPC has no way to the internet, so operators do not bring a shell into it: they
invoke this Lambda with the `photofeed` command line they would type, and it answers
the command's output and exit status (docs/operations.md):

    aws lambda invoke --function-name photofeed-dev-ops \\
        --cli-binary-format raw-in-base64-out \\
        --payload '{"command": ["shards", "list"]}' answer.json

It reaches the databases directly, not through RDS Proxy, with their passwords read from
Secrets Manager (Settings.admin_database_secrets). Whoever may invoke it may run every
operator command: grant `lambda:InvokeFunction` on it to operators only. A Lambda stops
after 15 minutes: a shard move that needs longer is run from a host in the VPC.
"""

from __future__ import annotations

import io
import traceback
from contextlib import redirect_stderr, redirect_stdout
from typing import Any

import click
from aws_lambda_powertools.utilities.typing import LambdaContext

from chalicelib.observability import powertools
from chalicelib.ops.cli import FAILURES, cli

SERVICE = "ops"
MAX_ARGUMENTS = 64
logger, _metrics, _tracer = powertools(SERVICE)


def run(command: list[str]) -> dict[str, Any]:
    """Run one `photofeed` command line; its exit status and what it printed."""
    output = io.StringIO()
    with redirect_stdout(output), redirect_stderr(output):
        try:
            # Not standalone: click returns a command's exit status instead of exiting.
            status = cli.main(args=command, prog_name="photofeed", standalone_mode=False)
        except click.ClickException as failed:
            failed.show()
            status = failed.exit_code
        except click.exceptions.Abort:
            status = 1
        except FAILURES as failed:
            click.echo(f"error: {failed}", err=True)
            status = 1
        except Exception:
            # A bug or an unreachable dependency: the operator gets the traceback with
            # what the command printed so far, and the log has it too.
            logger.exception("operator command crashed", extra={"command": command})
            traceback.print_exc()
            status = 1
    return {"exit_status": status or 0, "output": output.getvalue()}


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    command = event.get("command") if isinstance(event, dict) else None
    if (
        not isinstance(command, list)
        or not command
        or len(command) > MAX_ARGUMENTS
        or not all(isinstance(word, str) for word in command)
    ):
        return {
            "exit_status": 2,
            "output": 'expected {"command": ["db", "migrate"]}: a list of strings',
        }
    logger.info("operator command", extra={"command": command})
    answer = run(command)
    logger.info("operator command done", extra={"exit_status": answer["exit_status"]})
    return answer
