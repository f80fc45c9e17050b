"""Where OAuth 2.0 tokens live between runs: a 0600 JSON file, or a Prefect Secret block.

The store holds one token set per account (keyed by user id) and remembers the account
logged in last as the default. Writes are atomic (temp file, fsync, rename), so a crash
mid-write leaves the previous tokens, never a torn file: after a refresh the rotated
refresh token is on disk before the new access token is used (see auth.OAuth2UserAuth).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol, cast

import orjson
from pydantic import BaseModel, ConfigDict, SecretStr

from followflow.settings import Settings


class OAuth2Tokens(BaseModel):
    """One account's OAuth 2.0 tokens; secrets stay SecretStr everywhere but the store."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    access_token: SecretStr
    refresh_token: SecretStr | None = None
    expires_at: float  # epoch seconds
    scope: str = ""
    user_id: int
    username: str | None = None

    def to_storage(self) -> dict[str, Any]:
        """The plain dict written to the store (the only place secrets are unwrapped)."""
        return {
            "access_token": self.access_token.get_secret_value(),
            "refresh_token": (
                self.refresh_token.get_secret_value() if self.refresh_token else None
            ),
            "expires_at": self.expires_at,
            "scope": self.scope,
            "user_id": self.user_id,
            "username": self.username,
        }


class TokenStore(Protocol):
    """Loads and saves OAuth 2.0 tokens; `save` must be durable when it returns."""

    def load(self, user_id: int | None = None) -> OAuth2Tokens | None: ...

    def save(self, tokens: OAuth2Tokens) -> None: ...

    def locked(self) -> contextlib.AbstractContextManager[None]:
        """Hold while refreshing, so two processes never spend one refresh token twice."""
        ...


def _pick(document: dict[str, Any], user_id: int | None) -> OAuth2Tokens | None:
    accounts = document.get("accounts") or {}
    key = str(user_id) if user_id is not None else document.get("default")
    if key is None and len(accounts) == 1:
        key = next(iter(accounts))
    raw = accounts.get(key) if key is not None else None
    return OAuth2Tokens.model_validate(raw) if raw else None


def _with(document: dict[str, Any], tokens: OAuth2Tokens) -> dict[str, Any]:
    accounts = dict(document.get("accounts") or {})
    accounts[str(tokens.user_id)] = tokens.to_storage()
    return {"default": str(tokens.user_id), "accounts": accounts}


class ReentrantLock:
    """A thread lock around a lock across processes, taken once by the outermost holder.

    `save` takes the store's lock itself and is also called while a refresh holds it, so
    the same thread must be able to enter again without waiting for itself.
    """

    def __init__(self, across_processes: Callable[[], contextlib.AbstractContextManager[None]]):
        self._across_processes = across_processes
        self._thread_lock = threading.RLock()
        self._depth = 0
        self._owner: int | None = None

    @contextlib.contextmanager
    def __call__(self) -> Iterator[None]:
        with self._thread_lock:
            if self._depth:
                self._depth += 1
                try:
                    yield
                finally:
                    self._depth -= 1
                return
            with self._across_processes():
                self._depth, self._owner = 1, threading.get_ident()
                try:
                    yield
                finally:
                    self._depth, self._owner = 0, None

    def held(self) -> bool:
        """Whether the calling thread holds the lock."""
        return self._owner == threading.get_ident()


class FileTokenStore:
    """A JSON file created with mode 0600 in a 0700 directory, replaced atomically."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = ReentrantLock(self._flock)

    def locked(self) -> contextlib.AbstractContextManager[None]:
        """An exclusive lock across threads and processes (flock on a sibling .lock file)."""
        return self._lock()

    @contextlib.contextmanager
    def _flock(self) -> Iterator[None]:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        lock_path = self.path.with_name(self.path.name + ".lock")
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the flock

    def _read(self) -> dict[str, Any]:
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return {}
        document = orjson.loads(data)
        return document if isinstance(document, dict) else {}

    def load(self, user_id: int | None = None) -> OAuth2Tokens | None:
        """The tokens of `user_id` (default: the account logged in last), or None."""
        return _pick(self._read(), user_id)

    def save(self, tokens: OAuth2Tokens) -> None:
        """Write atomically and durably: temp file (0600) + fsync + rename + dir fsync."""
        with self.locked():
            document = _with(self._read(), tokens)
            tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                os.write(fd, orjson.dumps(document, option=orjson.OPT_INDENT_2))
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, self.path)
            dir_fd = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)


# How long a process uses a Secret block's document before reading the block again.
BLOCK_KEPT_S = 60.0


class SecretBlockTokenStore:
    """Tokens kept as JSON in a Prefect Secret block (for workers without a shared disk).

    A block has no lock of its own, and one block holds every account, so two hosts must
    not read, change and write it at the same time: the second would spend a refresh
    token the first already rotated (the emulator and X refuse it) or overwrite the
    first's new tokens. `lock` is what keeps them apart across hosts (tasks/clients.py
    passes a Prefect global concurrency limit); without it the lock holds within this
    process only, enough for one command line on one machine.
    """

    def __init__(
        self,
        block_name: str,
        lock: Callable[[], contextlib.AbstractContextManager[None]] = contextlib.nullcontext,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.block_name = block_name
        self._lock = ReentrantLock(lock)
        self._clock = clock
        self._kept: tuple[float, dict[str, Any]] | None = None  # (read at, document)
        self._keeping = threading.Lock()

    def locked(self) -> contextlib.AbstractContextManager[None]:
        """Held while the block is read, changed and written (a refresh holds it throughout)."""
        return self._lock()

    def _read(self) -> dict[str, Any]:
        """The block's document: as read in the last BLOCK_KEPT_S, except under the lock,
        where a refresh or a save needs what the block holds now.

        Every account's tokens are in the one block, and a run of 200 accounts asked for it
        twice per account: 2,000 reads of the whole block by a fleet of 500, the Prefect
        server's busiest work (bench/fleet.py). An access token read a minute ago is still
        good; if another host refreshed it meanwhile and X refuses it, the 401 leads to a
        refresh under the lock, which reads the block afresh and takes the new tokens.
        """
        with self._keeping:
            kept = self._kept
            if kept is not None and not self._lock.held():
                read_at, document = kept
                if self._clock() - read_at < BLOCK_KEPT_S:
                    return document
            document = self._read_block()
            self._kept = (self._clock(), document)
            return document

    def _read_block(self) -> dict[str, Any]:
        from prefect.blocks.system import Secret  # the core must not import Prefect eagerly

        try:
            block = Secret.load(self.block_name, _sync=True)  # type: ignore[call-arg]
        except ValueError:  # Prefect raises ValueError for a missing block
            return {}
        value = cast(Secret[Any], block).get()
        document = orjson.loads(value) if isinstance(value, str | bytes) else value
        return document if isinstance(document, dict) else {}

    def load(self, user_id: int | None = None) -> OAuth2Tokens | None:
        """The tokens of `user_id` (default: the account logged in last), or None."""
        return _pick(self._read(), user_id)

    def save(self, tokens: OAuth2Tokens) -> None:
        """Overwrite the block with the document changed for this account, under the lock."""
        from prefect.blocks.system import Secret

        with self.locked():
            document = _with(self._read(), tokens)
            Secret(value=orjson.dumps(document).decode()).save(self.block_name, overwrite=True)
            with self._keeping:
                self._kept = (self._clock(), document)


def token_store_from_settings(settings: Settings) -> TokenStore:
    """The Secret block named in settings if any, else the 0600 file."""
    if settings.token_store_block:
        return SecretBlockTokenStore(settings.token_store_block)
    return FileTokenStore(settings.token_store_path)
