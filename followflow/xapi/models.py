"""Typed results of X API calls: users, pages, follow/unfollow results, lookups, problems.

Boundary models are frozen and ignore unknown fields, so API additions never break parsing.
A `Page` of followers goes from its JSON body straight to the Arrow table a snapshot stores
(`Page.from_json`): pyarrow's JSON reader builds the columns without a Python object per
user and without holding the GIL, where decoding to dicts first cost about as much CPU
and all of it under the GIL (measured in a running snapshot: 6 ms a page). Bodies it
cannot take (errors, an unexpected shape) are decoded with orjson instead. IDs arrive as
strings and leave as ints.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Literal

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pajson
from pydantic import BaseModel, ConfigDict, Field, SkipValidation, model_validator

Kind = Literal["followers", "following"]
AccountState = Literal["active", "suspended", "deactivated", "unknown"]

# The profile fields followflow asks for; valid names in both spec generations (REFERENCE §1.1).
DEFAULT_USER_FIELDS: tuple[str, ...] = (
    "created_at",
    "description",
    "location",
    "url",
    "protected",
    "verified",
    "verified_type",
    "profile_image_url",
    "public_metrics",
)

_TS = pa.timestamp("us", tz="UTC")

# Column order and types of the `users` table (CONTRACTS.md, DuckDB schema).
USERS_SCHEMA = pa.schema(
    [
        ("user_id", pa.int64()),
        ("username", pa.string()),
        ("name", pa.string()),
        ("created_at", _TS),
        ("description", pa.string()),
        ("location", pa.string()),
        ("url", pa.string()),
        ("protected", pa.bool_()),
        ("verified", pa.bool_()),
        ("verified_type", pa.string()),
        ("profile_image_url", pa.string()),
        ("default_profile_image", pa.bool_()),
        ("followers_count", pa.int64()),
        ("following_count", pa.int64()),
        ("tweet_count", pa.int64()),
        ("listed_count", pa.int64()),
        ("state", pa.string()),
        ("updated_at", _TS),
    ]
)

_DEFAULT_IMAGE_MARK = "default_profile_images"


class Problem(BaseModel):
    """One RFC 7807 problem (or a v1.1 `{code, message}` error) as X sent it."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    type: str | None = None
    title: str | None = None
    detail: str | None = None
    status: int | None = None
    value: str | None = None
    resource_id: str | None = None
    resource_type: str | None = None
    parameter: str | None = None
    code: int | None = None
    message: str | None = None

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Problem:
        """Parse leniently: X sends `value` as a string or a number, `status` sometimes not."""
        fields = {k: raw.get(k) for k in cls.model_fields if raw.get(k) is not None}
        for key in ("value", "resource_id"):
            if key in fields and not isinstance(fields[key], str):
                fields[key] = str(fields[key])
        for key in ("status", "code"):
            if key in fields and not isinstance(fields[key], int):
                fields.pop(key)
        return cls.model_validate(fields)

    @property
    def account_state(self) -> AccountState:
        """What a lookup error says about the account: suspended, gone, or unclear."""
        text = f"{self.title or ''} {self.detail or ''}".lower()
        if "suspended" in text:
            return "suspended"
        if (self.type or "").endswith("/resource-not-found") or "not found" in text:
            return "deactivated"
        return "unknown"


class User(BaseModel):
    """An X account with the profile fields followflow requests (DEFAULT_USER_FIELDS)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    id: int
    username: str
    name: str
    created_at: datetime | None = None
    description: str | None = None
    location: str | None = None
    url: str | None = None
    protected: bool | None = None
    verified: bool | None = None
    verified_type: str | None = None
    profile_image_url: str | None = None
    followers_count: int | None = None
    following_count: int | None = None
    tweet_count: int | None = None
    listed_count: int | None = None
    # Only with user context and `connection_status` requested: e.g. "following",
    # "follow_request_sent", "followed_by".
    connection_status: tuple[str, ...] = ()

    @model_validator(mode="before")
    @classmethod
    def _flatten_metrics(cls, raw: Any) -> Any:
        if not isinstance(raw, dict) or not isinstance(raw.get("public_metrics"), dict):
            return raw
        metrics = raw["public_metrics"]
        flat = dict(raw)
        for key in ("followers_count", "following_count", "listed_count"):
            flat.setdefault(key, metrics.get(key))
        # v2.167 renamed tweet_count to post_count; accept either.
        flat.setdefault("tweet_count", metrics.get("tweet_count", metrics.get("post_count")))
        return flat

    @property
    def default_profile_image(self) -> bool | None:
        if self.profile_image_url is None:
            return None
        return _DEFAULT_IMAGE_MARK in self.profile_image_url


class Page(BaseModel):
    """One page of a followers/following listing, with its cursor for checkpointing.

    `pagination_token` is the token this page was requested with (None for the first page);
    `next_token` is the one to resume from (None on the last page). `table` holds the users
    as `users`-table rows (USERS_SCHEMA), newest first.
    """

    model_config = ConfigDict(frozen=True, extra="ignore", arbitrary_types_allowed=True)

    kind: Kind
    account_id: int
    pagination_token: str | None
    next_token: str | None
    result_count: int
    fetched_at: datetime
    table: SkipValidation[pa.Table] = Field(repr=False)
    errors: tuple[Problem, ...] = ()

    @classmethod
    def from_json(
        cls,
        content: bytes,
        *,
        kind: Kind,
        account_id: int,
        pagination_token: str | None,
        fetched_at: datetime,
    ) -> Page:
        """Parse a listing's body (raises ValueError when it is not a JSON object)."""
        fast = None if b'"errors"' in content else _arrow_page(content, fetched_at)
        if fast is not None:
            table, meta = fast
            return cls.model_construct(
                kind=kind,
                account_id=account_id,
                pagination_token=pagination_token,
                next_token=meta.get("next_token") or None,
                result_count=int(meta.get("result_count") or table.num_rows),
                fetched_at=fetched_at,
                table=table,
                errors=(),
            )
        body = orjson.loads(content)  # JSONDecodeError is a ValueError
        if not isinstance(body, dict):
            raise ValueError("a listing's body is not a JSON object")
        return cls.from_body(
            body,
            kind=kind,
            account_id=account_id,
            pagination_token=pagination_token,
            fetched_at=fetched_at,
        )

    @classmethod
    def from_body(
        cls,
        body: dict[str, Any],
        *,
        kind: Kind,
        account_id: int,
        pagination_token: str | None,
        fetched_at: datetime,
    ) -> Page:
        """Build from a body already decoded to Python objects."""
        meta = body.get("meta") or {}
        data = body.get("data") or []
        return cls.model_construct(
            kind=kind,
            account_id=account_id,
            pagination_token=pagination_token,
            next_token=meta.get("next_token") or None,
            result_count=int(meta.get("result_count", len(data))),
            fetched_at=fetched_at,
            table=users_table(data, fetched_at),
            errors=tuple(
                Problem.from_dict(e) for e in body.get("errors") or () if isinstance(e, dict)
            ),
        )

    @property
    def user_ids(self) -> pa.Int64Array:
        """The page's user ids, in X's order (newest first)."""
        ids: pa.Int64Array = self.table.column("user_id").combine_chunks()
        return ids

    def as_arrow(self) -> pa.Table:
        """The page's users as a `users`-table-shaped Arrow table, for one bulk DuckDB append."""
        return self.table


_METRICS = pa.struct(
    [
        ("followers_count", pa.int64()),
        ("following_count", pa.int64()),
        ("tweet_count", pa.int64()),
        ("post_count", pa.int64()),
        ("listed_count", pa.int64()),
    ]
)
_X_USER = pa.struct(
    [
        ("id", pa.string()),
        ("username", pa.string()),
        ("name", pa.string()),
        ("created_at", pa.string()),
        ("description", pa.string()),
        ("location", pa.string()),
        ("url", pa.string()),
        ("protected", pa.bool_()),
        ("verified", pa.bool_()),
        ("verified_type", pa.string()),
        ("profile_image_url", pa.string()),
        ("public_metrics", _METRICS),
    ]
)
_X_PAGE = pa.schema(
    [
        ("data", pa.list_(_X_USER)),
        ("meta", pa.struct([("result_count", pa.int64()), ("next_token", pa.string())])),
    ]
)
_PAGE_PARSE = pajson.ParseOptions(explicit_schema=_X_PAGE, unexpected_field_behavior="ignore")


def _arrow_page(content: bytes, updated_at: datetime) -> tuple[pa.Table, dict[str, Any]] | None:
    """(users table, meta) of a listing's body read by pyarrow, or None when it can't."""
    options = pajson.ReadOptions(use_threads=False, block_size=max(len(content) + 1, 1 << 16))
    try:
        body = pajson.read_json(pa.BufferReader(content), options, _PAGE_PARSE)
        if body.num_rows != 1:
            return None
        users = pa.concat_arrays([chunk.flatten() for chunk in body.column("data").chunks])
        table = _users_table(users, updated_at)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return None
    meta = body.column("meta")[0].as_py() or {}
    return table, meta


def users_table(raw_users: Sequence[dict[str, Any]], updated_at: datetime) -> pa.Table:
    """Arrow table (USERS_SCHEMA) of decoded X user objects."""
    return _users_table(pa.array(list(raw_users), type=_X_USER), updated_at)


def _users_table(users: pa.StructArray, updated_at: datetime) -> pa.Table:
    """X users (`_X_USER`) as `users` rows; a field X left out is null."""
    # flatten(), not field(): a child of a null struct must read as null, not as 0.
    x = dict(zip(_X_USER.names, users.flatten(), strict=True))
    metrics = dict(zip(_METRICS.names, x["public_metrics"].flatten(), strict=True))
    images = x["profile_image_url"]
    n = len(users)
    columns = [
        x["id"].cast(pa.int64()),
        x["username"],
        x["name"],
        x["created_at"].cast(_TS),
        x["description"],
        x["location"],
        x["url"],
        x["protected"],
        x["verified"],
        x["verified_type"],
        images,
        pc.match_substring(images, _DEFAULT_IMAGE_MARK),
        metrics["followers_count"],
        metrics["following_count"],
        pc.coalesce(metrics["tweet_count"], metrics["post_count"]),
        metrics["listed_count"],
        pa.repeat(pa.scalar("active", pa.string()), n),
        pa.repeat(pa.scalar(updated_at.astimezone(UTC), _TS), n),
    ]
    return pa.Table.from_arrays(columns, schema=USERS_SCHEMA)


class FollowResult(BaseModel):
    """What X said to a follow: `pending_follow` when the target is protected."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    following: bool
    pending_follow: bool = False


class UnfollowResult(BaseModel):
    """What X said to an unfollow (`following` is False on success)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    following: bool


class LookupResult(BaseModel):
    """Users found, and one Problem per id/username X could not return (suspended, gone)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    users: list[User]
    missing: list[Problem]
