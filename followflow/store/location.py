"""Where the store lives: a DuckDB file (the default) or a PostgreSQL database.

The choice is made once, here, from the settings: `FOLLOWFLOW_DATABASE_URL` set means
PostgreSQL, unset means the DuckDB file at `FOLLOWFLOW_DB_PATH`. Everything above the
store passes the `StoreLocation` it got from `store_location()` along and never asks
which one it is. The URL holds a password, so it travels as a `PostgresUrl` whose repr
and str are masked; only the PostgreSQL connection policy asks for the real text.
"""

from __future__ import annotations

import hashlib
import re
import tempfile
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import SecretStr

if TYPE_CHECKING:
    from followflow.settings import Settings

_MASK = "***"
# scheme://user:password@host... : the password is everything between the first ':' after
# the scheme's '//' and the last '@' before the host.
_URL_PASSWORD = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://[^:/@\s]*:)(?P<secret>[^\s]*)(?=@)", re.I)
# key=value libpq forms: "password=..." in a conninfo string or "?password=..." in a URL.
_KEYWORD_PASSWORD = re.compile(
    r"(?P<head>\bpassword\s*=\s*)(?P<secret>'(?:[^'\\]|\\.)*'|[^\s&]*)", re.I
)


def mask_url(text: str) -> str:
    """`text` with every database password in it replaced by ***.

    Covers `postgresql://user:pass@host/db`, `?password=...` and libpq's
    `password=...` keyword form; every message that shows a URL goes through this.
    """
    masked = _URL_PASSWORD.sub(lambda m: m["head"] + _MASK, text)
    return _KEYWORD_PASSWORD.sub(lambda m: m["head"] + _MASK, masked)


@dataclass(frozen=True)
class PostgresUrl:
    """A PostgreSQL connection URL (or libpq conninfo) that never prints its password."""

    secret: SecretStr = field(repr=False)

    @property
    def masked(self) -> str:
        return mask_url(self.secret.get_secret_value())

    def conninfo(self) -> str:
        """The real text, for psycopg only."""
        return self.secret.get_secret_value()

    def spool_root(self) -> Path:
        """This host's folder for the pages a snapshot has fetched but not yet staged.

        Pages are a local checkpoint (spool.py): a run resumed on another host starts
        after the last page staged in the database instead.
        """
        digest = hashlib.sha1(self.masked.encode(), usedforsecurity=False).hexdigest()[:16]
        return Path(tempfile.gettempdir()) / "followflow-pages" / digest

    def __str__(self) -> str:
        return self.masked

    def __repr__(self) -> str:
        return f"PostgresUrl({self.masked!r})"


StoreLocation = str | PathLike[str] | PostgresUrl
"""A DuckDB file's path, or a PostgreSQL database."""


def store_location(settings: Settings) -> Path | PostgresUrl:
    """The store the settings choose: PostgreSQL when a database URL is set, else the file."""
    if settings.database_url is not None:
        return PostgresUrl(settings.database_url)
    return settings.db_path


def describe(location: StoreLocation) -> str:
    """How messages name a store: the file's path, or the URL with its password masked."""
    return location.masked if isinstance(location, PostgresUrl) else str(location)
