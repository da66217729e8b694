"""The one typed settings object, read once from the environment.

Every process (the API, each Lambda, the local stack) builds a `Settings` once, at
start-up, with `Settings.from_env()`. Domain code receives it, or the clients built
from it; nothing else in chalicelib reads `os.environ`.
"""

from __future__ import annotations

import json
import os
import shlex
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar, Literal, TypeVar, get_origin

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    HttpUrl,
    PostgresDsn,
    RedisDsn,
    field_validator,
)

Stage = Literal["local", "dev", "prod"]

MiB = 1024 * 1024

S = TypeVar("S", bound="EnvSettings")


class EnvSettings(BaseModel):
    """Settings read from the variables named `env_prefix` + a field's name, in any case,
    as pydantic-settings reads them (without its cost at every cold start): dicts and
    nested settings as JSON, the rest as text that the fields convert and check. Nested
    settings without a variable of their own read theirs."""

    # As pydantic-settings has it; any other PHOTOFEED_* variable is never read.
    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)
    env_prefix: ClassVar[str] = ""

    @classmethod
    def from_env(cls: type[S]) -> S:
        """Read these settings from this process's environment."""
        environ = {name.lower(): value for name, value in os.environ.items()}
        values: dict[str, Any] = {}
        for name, field in cls.model_fields.items():
            value = environ.get(f"{cls.env_prefix}{name}".lower())
            if value is not None:
                values[name] = _decoded(value) if _is_structured(field.annotation) else value
            elif _is_settings(field.annotation):
                values[name] = field.annotation.from_env()
        return cls.model_validate(values)


def _is_settings(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, EnvSettings)


def _is_structured(annotation: Any) -> bool:
    return get_origin(annotation) in (dict, list) or _is_settings(annotation)


def _decoded(value: str) -> Any:
    # Not JSON: the text goes on as it is, for the field to refuse.
    try:
        return json.loads(value)
    except ValueError:
        return value


class Limits(EnvSettings):
    """Sizes and counts the service refuses to exceed."""

    env_prefix = "PHOTOFEED_LIMIT_"

    # API Gateway accepts 10 MB; no JSON request of ours needs more than a caption.
    max_request_body_bytes: int = Field(64 * 1024, ge=1024, le=10 * MiB)
    max_upload_bytes: int = Field(20 * MiB, ge=1, le=200 * MiB)
    max_caption_chars: int = Field(2200, ge=1)
    max_comment_chars: int = Field(2200, ge=1)
    max_alt_text_chars: int = Field(1000, ge=1)
    # Uploads reserved and not yet received, per user per hour: a client in a retry loop
    # cannot fill the table with pending rows.
    max_pending_uploads: int = Field(20, ge=1)
    # How long a presigned POST stays usable.
    upload_url_seconds: int = Field(600, ge=60, le=3600)
    # Larger images are refused before decoding (decompression bombs).
    max_image_pixels: int = Field(50_000_000, ge=1_000_000, le=200_000_000)
    default_page_size: int = Field(20, ge=1)
    max_page_size: int = Field(50, ge=1)


class AuthSettings(EnvSettings):
    """Sessions, login throttling and what counts as an active user."""

    env_prefix = "PHOTOFEED_AUTH_"

    session_ttl_days: float = Field(30, gt=0, le=365)
    # How long a session lives in Redis before DynamoDB is asked again; a revocation
    # overwrites the cached entry, so this bounds nothing a user can notice.
    session_cache_seconds: int = Field(300, ge=1, le=3600)
    # Failed logins per account, and per source address, in a window.
    login_failures_per_account: int = Field(10, ge=1)
    login_failures_per_address: int = Field(100, ge=1)
    login_failure_window_seconds: int = Field(900, ge=1)
    # A user is active if they made an authenticated request within this many days;
    # fan-out pushes only to active followers.
    active_window_days: float = Field(7, gt=0, le=90)


class FeedSettings(EnvSettings):
    """Home feeds and fan-out."""

    env_prefix = "PHOTOFEED_FEED_"

    # Entries a feed keeps (Mastodon and Twitter settled on 800).
    cap: int = Field(800, ge=50, le=5000)
    # Followers one fan-out message pushes to; larger audiences are split into chunks
    # processed in parallel (Instagram's number).
    chunk_size: int = Field(10_000, ge=100)
    # Accounts with at least this many followers are not pushed at all: their media are
    # merged into followers' pages at read time.
    celebrity_followers: int = Field(100_000, ge=1)
    # A rebuilt feed considers at most this many of the reader's followees (the most
    # recently followed): bounded work for a returning user.
    rebuild_followees: int = Field(2_000, ge=1)
    # How long a media's record stays cached for hydration.
    media_cache_seconds: int = Field(300, ge=1)


class Settings(EnvSettings):
    """Stage, endpoints, resource names and limits of one Photofeed deployment."""

    env_prefix = "PHOTOFEED_"

    stage: Stage = "local"
    region: str = "us-east-1"
    # Set locally (moto); unset in AWS, where boto3 finds the regional endpoints.
    aws_endpoint_url: HttpUrl | None = None

    # Physical database name -> DSN (an RDS Proxy endpoint in AWS).
    databases: dict[str, PostgresDsn] = Field(default_factory=dict)
    # The same databases for operator commands (migrations, shard moves): straight to
    # the databases rather than through the proxy, with no statement timeout (e.g.
    # `?options=-c%20statement_timeout%3D0`). Empty: operators use `databases`.
    admin_databases: dict[str, PostgresDsn] = Field(default_factory=dict)
    # Physical database name -> the Secrets Manager secret (JSON with "password") of the
    # user `admin_databases` names: passwords are read when connecting, never kept in
    # the environment (the operators' Lambda in AWS).
    admin_database_secrets: dict[str, str] = Field(default_factory=dict)
    # How many logical shards there are (of the 8192 an ID can name). Fixed at the
    # first `db migrate`: the shard map records it and later runs must agree.
    logical_shards: int = Field(64, ge=1, le=8192)
    # How long a process trusts its copy of the shard map before reading it again.
    shard_map_ttl_seconds: float = Field(5.0, gt=0, le=300)
    # Connect to the databases with IAM auth tokens instead of passwords (RDS Proxy's
    # IAM authentication in AWS); the DSNs then name the user but hold no password.
    database_iam_auth: bool = False
    redis_url: RedisDsn = RedisDsn("redis://127.0.0.1:6379/0")
    # ElastiCache in cluster mode: the URL is the configuration endpoint and keys are
    # spread over shards by hash slot (see chalicelib.redis_keys).
    redis_cluster: bool = False
    # The Secrets Manager secret holding the Redis AUTH token (JSON, key "token"); never
    # an environment variable, so the token is not shown with the function's settings.
    redis_auth_secret_arn: str = ""

    bucket: str = "photofeed-local-photos"
    uploads_queue_url: str = ""
    uploads_dlq_url: str = ""
    fanout_queue_url: str = ""
    fanout_dlq_url: str = ""
    media_events_topic_arn: str = ""
    notifications_queue_url: str = ""
    notifications_dlq_url: str = ""
    # The SNS platform applications devices are registered with (CloudFormation cannot
    # make them: they hold the APNs key and the FCM credentials). Unset: that platform's
    # devices are refused.
    apns_application_arn: str = ""
    fcm_application_arn: str = ""
    shard_map_table: str = "photofeed-local-shard-map"
    name_claims_table: str = "photofeed-local-name-claims"
    sessions_table: str = "photofeed-local-sessions"
    idempotency_table: str = "photofeed-local-idempotency"

    public_media_base_url: HttpUrl = HttpUrl("http://127.0.0.1:8000/")
    # Seconds a dependency may take before /health calls it down.
    health_timeout_seconds: float = Field(2.0, gt=0, le=10)
    # Set server-side (RDS Proxy's InitQuery in AWS, the database's default locally),
    # never with SET from the application, which would pin proxy connections.
    # At least 3 s: a statement that meets a dead ID-block opener waits about 2 s.
    statement_timeout_ms: int = Field(5000, ge=3000)

    limits: Limits = Field(default_factory=Limits)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    feed: FeedSettings = Field(default_factory=FeedSettings)

    @field_validator("aws_endpoint_url", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        # Templates write "" for "no endpoint" (AWS itself); that means boto3's default.
        return None if value == "" else value

    @property
    def queue_urls(self) -> dict[str, str]:
        """Every queue of the service by role, for health checks and operators."""
        return {
            "uploads": self.uploads_queue_url,
            "uploads-dlq": self.uploads_dlq_url,
            "fanout": self.fanout_queue_url,
            "fanout-dlq": self.fanout_dlq_url,
            "notifications": self.notifications_queue_url,
            "notifications-dlq": self.notifications_dlq_url,
        }

    @property
    def table_names(self) -> dict[str, str]:
        """Every DynamoDB table of the service by role."""
        return {
            "shard-map": self.shard_map_table,
            "name-claims": self.name_claims_table,
            "sessions": self.sessions_table,
            "idempotency": self.idempotency_table,
        }

    @property
    def platform_applications(self) -> dict[str, str]:
        """Each push platform's SNS platform application, where one is configured."""
        found = {"apns": self.apns_application_arn, "fcm": self.fcm_application_arn}
        return {platform: arn for platform, arn in found.items() if arn}

    @property
    def endpoint_url(self) -> str | None:
        """The AWS endpoint as boto3 wants it (no trailing slash), or None in AWS."""
        return str(self.aws_endpoint_url).rstrip("/") if self.aws_endpoint_url else None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings of this process, read once."""
    return Settings.from_env()


# What `make up` / `make dev` write: the local stack's endpoints and fake credentials.
LOCAL_STACK_ENV = Path(__file__).resolve().parent.parent / ".local" / "stack.env"


def read_env_file(path: Path) -> dict[str, str]:
    """The variables of an env file of KEY=value lines (values shell-quoted)."""
    env = {}
    for line in path.read_text().splitlines():
        key, _, value = line.partition("=")
        if key:
            env[key] = shlex.split(value)[0] if value else ""
    return env


def use_stack_env(path: Path | None = None) -> None:
    """For tools run by hand (the CLI, benchmarks): take a stack's env file into this
    process's environment, by default the local stack's when no PHOTOFEED_* is set.
    Variables already set win."""
    configured = any(key.startswith("PHOTOFEED_") for key in os.environ)
    if path is None and (configured or not LOCAL_STACK_ENV.exists()):
        return
    for key, value in read_env_file(path or LOCAL_STACK_ENV).items():
        os.environ.setdefault(key, value)
