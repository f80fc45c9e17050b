"""Runtime configuration: one `Settings`, read from FOLLOWFLOW_* variables or `.env`.

Every field has bounds and a description (the README's configuration table is generated
from them, and `followflow --help` points there). Secrets are `SecretStr`, so they print
as `**********` in reprs, logs and Prefect parameters.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

if TYPE_CHECKING:
    from followflow.store.location import PostgresUrl

ENV_PREFIX = "FOLLOWFLOW_"
_POSTGRES_URL = re.compile(r"^(postgres(ql)?://\S+|(\w+\s*=\s*\S+\s*)+)$")


class SettingsError(Exception):
    """A setting has a bad value; the message is one line naming the variable."""


class Settings(BaseSettings):
    """Runtime configuration, read from FOLLOWFLOW_* environment variables or .env."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_file=".env", extra="ignore", validate_default=True
    )

    # --- where X is -------------------------------------------------------------------
    x_base_url: str = Field(
        default="https://api.x.com",
        pattern=r"^https?://[^\s/]+(:\d+)?$",
        description="Base URL of the X API (or of `followflow emulator`), no trailing slash.",
    )

    # --- credentials (never logged) ------------------------------------------------------
    bearer_token: SecretStr | None = Field(
        default=None, description="App-only Bearer token: reads and lookups only."
    )
    consumer_key: SecretStr | None = Field(
        default=None, description="OAuth 1.0a consumer (API) key of the app."
    )
    consumer_secret: SecretStr | None = Field(
        default=None, description="OAuth 1.0a consumer (API) secret of the app."
    )
    access_token: SecretStr | None = Field(
        default=None, description="OAuth 1.0a access token of the account (`<user id>-...`)."
    )
    access_token_secret: SecretStr | None = Field(
        default=None, description="OAuth 1.0a access token secret of the account."
    )
    client_id: str | None = Field(
        default=None, description="OAuth 2.0 client id, for `followflow auth login`."
    )
    client_secret: SecretStr | None = Field(
        default=None, description="OAuth 2.0 client secret (confidential clients only)."
    )
    oauth2_redirect_port: int = Field(
        default=8765,
        ge=1024,
        le=65535,
        description="Loopback port `followflow auth login` listens on for the redirect.",
    )
    token_store_path: Path = Field(
        default=Path.home() / ".config" / "followflow" / "tokens.json",
        description="File (mode 0600) holding OAuth 2.0 tokens.",
    )
    token_store_block: str | None = Field(
        default=None,
        description="Name of a Prefect Secret block to hold OAuth 2.0 tokens instead of a file.",
    )

    app_name: str = Field(
        default="default",
        pattern=r"^[A-Za-z0-9_.-]{1,64}$",
        description="A name for the X app the credentials belong to; per-app budgets count "
        "every account's actions under it.",
    )

    read_with_user_tokens: bool = Field(
        default=False,
        description="Read each account's lists with its own user token (its own rate-limit "
        "bucket, so accounts read in parallel) instead of the app's Bearer token.",
    )

    # --- scheduled deployments --------------------------------------------------------
    accounts: list[str] = Field(
        default_factory=list,
        description="Accounts the scheduled deployments snapshot (usernames or ids, "
        'as JSON: ["me", "12345"]).',
    )
    snapshot_interval_hours: float = Field(
        default=6.0, gt=0, le=24 * 7, description="How often the snapshot deployment runs."
    )
    follow_back_cron: str = Field(
        default="0 9 * * *", description="When the daily follow-back deployment runs (cron, UTC)."
    )
    scheduled_follow_back_live: bool = Field(
        default=False,
        description="Scheduled follow-back runs really follow (pre-approved). Off: dry runs.",
    )
    scheduled_max_follows: int = Field(
        default=50, ge=0, le=400, description="Most follows one scheduled follow-back run sends."
    )

    # --- storage -------------------------------------------------------------------------
    database_url: SecretStr | None = Field(
        default=None,
        description=(
            "PostgreSQL store, as `postgresql://user:password@host:port/db` or libpq's "
            "`key=value` form. Unset: the DuckDB file at FOLLOWFLOW_DB_PATH."
        ),
    )
    db_path: Path = Field(
        default=Path("followflow.duckdb"),
        description="The DuckDB file followflow writes (when FOLLOWFLOW_DATABASE_URL is unset).",
    )
    db_lock_timeout_s: float = Field(
        default=30.0,
        ge=0,
        le=3600,
        description="How long to keep retrying when another process holds the DuckDB file.",
    )
    db_memory_mb: int = Field(
        default=256,
        ge=64,
        le=1_048_576,
        description=(
            "DuckDB's memory limit in each followflow process, in MB; work beyond it spills "
            "to the system's temporary folder."
        ),
    )

    # --- requests, retries, waits --------------------------------------------------------
    page_size: int = Field(
        default=1000, ge=1, le=1000, description="Users per page when reading lists (X: 1-1000)."
    )
    request_timeout_s: float = Field(
        default=30.0, gt=0, le=600, description="Timeout of one HTTP request."
    )
    max_retries: int = Field(
        default=4, ge=0, le=20, description="Retries of one request on 5xx, timeouts and resets."
    )
    backoff_base_s: float = Field(
        default=1.0, ge=0, le=60, description="First retry delay; doubles each retry, jittered."
    )
    backoff_max_s: float = Field(
        default=60.0, ge=0, le=3600, description="Largest single retry delay."
    )
    max_rate_limit_wait_s: float = Field(
        default=960.0,
        ge=0,
        le=86_400,
        description="Longest wait for a 15-minute window to reset; longer resets raise instead.",
    )

    rate_limit_margin_s: float = Field(
        default=0.5,
        ge=0,
        le=60,
        description="Extra wait after a window's reset time, for clock skew between us and X.",
    )
    reads_per_window: int = Field(
        default=15,
        ge=1,
        le=100_000,
        description="Reads per 15-minute window assumed for estimates until X's headers say "
        "(15 on the 2023 tiers, 300 in 2026).",
    )

    # --- budgets (X's caps are the ceilings) --------------------------------------------
    follow_budget_per_user: int = Field(
        default=400, ge=0, le=400, description="Follows per account per rolling 24 h."
    )
    follow_budget_per_app: int = Field(
        default=1000, ge=0, le=1000, description="Follows per app per rolling 24 h."
    )
    unfollow_budget_per_app: int = Field(
        default=500, ge=0, le=500, description="Unfollows per app per rolling 24 h."
    )
    budget_window_s: float = Field(
        default=86_400.0,
        gt=0,
        le=86_400,
        description="The rolling window budgets are counted over (X: 24 h; shorter only to "
        "match an emulator started with --day-seconds).",
    )
    action_min_spacing_s: float = Field(
        default=20.0,
        ge=0,
        le=3600,
        description="Least time between two follows or unfollows of one account (jittered).",
    )

    # --- campaigns and guardrails --------------------------------------------------------
    unfollow_cleanup_enabled: bool = Field(
        default=False, description="Allow the unfollow clean-up flow at all (off by default)."
    )
    unfollow_grace_days: int = Field(
        default=7, ge=1, le=365, description="Only unfollow accounts followed at least this long."
    )

    # --- cost control --------------------------------------------------------------------
    read_price_usd: float = Field(
        default=0.001,
        ge=0,
        le=1,
        description="Price of one user read (X pay-per-use 'Owned Reads', 2026), for estimates.",
    )
    max_reads_per_run: int | None = Field(
        default=None, ge=1, description="Stop a snapshot run before it reads more users than this."
    )

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", description="Log level of followflow's own loggers."
    )

    @field_validator("database_url")
    @classmethod
    def _postgres_only(cls, value: SecretStr | None) -> SecretStr | None:
        text = "" if value is None else value.get_secret_value().strip()
        if value is not None and not _POSTGRES_URL.match(text):
            raise ValueError("must be a postgresql:// URL or libpq key=value pairs")
        return SecretStr(text) if value is not None else None

    @property
    def store(self) -> Path | PostgresUrl:
        """Where the store is: the one place the backend is chosen (store/location.py)."""
        from followflow.store.location import store_location

        return store_location(self)


SECRET_FIELDS = frozenset(
    name for name, info in Settings.model_fields.items() if "SecretStr" in repr(info.annotation)
)


def describe_validation_error(error: ValidationError) -> str:
    """One line naming the first bad variable, the value's problem and what to do."""
    first = error.errors()[0]
    field = ".".join(str(part) for part in first["loc"]) or "settings"
    variable = f"{ENV_PREFIX}{field.upper()}"
    # A secret's value must not reach a terminal or a log, even when it is the bad one.
    shown = "" if field in SECRET_FIELDS else f" (got {first.get('input')!r})"
    return f"{variable}: {first['msg']}{shown}; fix it in the environment or .env"


def load_settings(**overrides: object) -> Settings:
    """Build Settings from the environment and .env, raising SettingsError on a bad value."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as error:
        raise SettingsError(describe_validation_error(error)) from None


@lru_cache
def get_settings() -> Settings:
    """The process-wide Settings, built once."""
    return load_settings()
