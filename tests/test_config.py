"""Settings: one typed, frozen object read from PHOTOFEED_* environment variables."""

from __future__ import annotations

import json
import os

import pytest
from pydantic import ValidationError

from chalicelib.config import MiB, Settings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch) -> None:
    """Start each test from no PHOTOFEED_* variable at all (the stack's are set)."""
    for name in list(os.environ):
        if name.startswith("PHOTOFEED_"):
            monkeypatch.delenv(name)


def test_an_empty_environment_gives_the_local_defaults():
    settings = Settings.from_env()

    assert settings.stage == "local"
    assert settings.region == "us-east-1"
    assert settings.endpoint_url is None
    assert settings.databases == {}
    assert settings.limits.max_upload_bytes == 20 * MiB


def test_databases_are_read_from_a_json_object_of_dsns(monkeypatch):
    dsns = {
        "db0": "postgresql://photofeed@127.0.0.1:5432/photofeed_db0",
        "db1": "postgresql://photofeed:secret@db1.internal:6432/photofeed_db1?sslmode=require",
    }
    monkeypatch.setenv("PHOTOFEED_DATABASES", json.dumps(dsns))

    settings = Settings.from_env()

    assert {name: str(dsn) for name, dsn in settings.databases.items()} == dsns
    assert settings.databases["db1"].hosts()[0]["port"] == 6432


@pytest.mark.parametrize(
    "value",
    [
        "postgresql://photofeed@127.0.0.1/db0",  # not JSON
        '["postgresql://photofeed@127.0.0.1/db0"]',  # not an object
        '{"db0": "mysql://photofeed@127.0.0.1/db0"}',  # not PostgreSQL
    ],
)
def test_databases_that_are_not_a_json_object_of_postgres_dsns_are_refused(monkeypatch, value):
    monkeypatch.setenv("PHOTOFEED_DATABASES", value)

    with pytest.raises(ValidationError):
        Settings.from_env()


def test_a_limit_is_read_from_its_own_variable(monkeypatch):
    monkeypatch.setenv("PHOTOFEED_LIMIT_MAX_UPLOAD_BYTES", str(5 * MiB))

    settings = Settings.from_env()

    assert settings.limits.max_upload_bytes == 5 * MiB
    assert settings.limits.max_caption_chars == 2200


@pytest.mark.parametrize("value", ["0", str(200 * MiB + 1), "twenty"])
def test_a_limit_out_of_its_range_is_refused(monkeypatch, value):
    monkeypatch.setenv("PHOTOFEED_LIMIT_MAX_UPLOAD_BYTES", value)

    with pytest.raises(ValidationError):
        Settings.from_env()


@pytest.mark.parametrize("stage", ["local", "dev", "prod"])
def test_a_known_stage_is_accepted(monkeypatch, stage):
    monkeypatch.setenv("PHOTOFEED_STAGE", stage)

    assert Settings.from_env().stage == stage


def test_an_unknown_stage_is_refused(monkeypatch):
    monkeypatch.setenv("PHOTOFEED_STAGE", "staging")

    with pytest.raises(ValidationError):
        Settings.from_env()


@pytest.mark.parametrize(
    "value",
    ["http://127.0.0.1:5000", "http://127.0.0.1:5000/", "http://127.0.0.1:5000//"],
)
def test_the_endpoint_url_has_no_trailing_slash(monkeypatch, value):
    monkeypatch.setenv("PHOTOFEED_AWS_ENDPOINT_URL", value)

    assert Settings.from_env().endpoint_url == "http://127.0.0.1:5000"


def test_the_endpoint_url_is_none_when_unset():
    # In AWS the variable is not set and boto3 finds the regional endpoints itself.
    assert "PHOTOFEED_AWS_ENDPOINT_URL" not in os.environ

    assert Settings.from_env().endpoint_url is None


def test_an_empty_endpoint_url_means_the_aws_default(monkeypatch):
    monkeypatch.setenv("PHOTOFEED_AWS_ENDPOINT_URL", "")

    assert Settings.from_env().endpoint_url is None


def test_settings_are_frozen():
    settings = Settings.from_env()

    with pytest.raises(ValidationError):
        settings.stage = "prod"
    assert settings.stage == "local"


def test_limits_are_frozen():
    limits = Settings.from_env().limits

    with pytest.raises(ValidationError):
        limits.max_upload_bytes = 1


def test_variables_the_settings_do_not_know_are_ignored(monkeypatch):
    # The local stack's environment holds PHOTOFEED_API_URL and PHOTOFEED_STACK_DIR.
    monkeypatch.setenv("PHOTOFEED_API_URL", "http://127.0.0.1:8000")
    monkeypatch.setenv("PHOTOFEED_STACK_DIR", "/tmp/stack")

    settings = Settings.from_env()

    assert not hasattr(settings, "api_url")
    assert not hasattr(settings, "stack_dir")


def test_queue_urls_and_table_names_list_every_resource_by_role(monkeypatch):
    monkeypatch.setenv("PHOTOFEED_UPLOADS_QUEUE_URL", "http://sqs/uploads")
    monkeypatch.setenv("PHOTOFEED_FANOUT_DLQ_URL", "http://sqs/fanout-dlq")
    monkeypatch.setenv("PHOTOFEED_SESSIONS_TABLE", "p-sessions")

    settings = Settings.from_env()

    assert settings.queue_urls["uploads"] == "http://sqs/uploads"
    assert settings.queue_urls["fanout-dlq"] == "http://sqs/fanout-dlq"
    assert set(settings.queue_urls) == {
        "uploads",
        "uploads-dlq",
        "fanout",
        "fanout-dlq",
        "notifications",
        "notifications-dlq",
    }
    assert settings.table_names["sessions"] == "p-sessions"
    assert set(settings.table_names) == {"shard-map", "name-claims", "sessions", "idempotency"}
