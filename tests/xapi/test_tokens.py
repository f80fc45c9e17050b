"""The token stores: the file (0600, atomic, one entry per account, the last login as
default) and the Prefect Secret block every host reads."""

from __future__ import annotations

import json
import os
import stat
import uuid
from pathlib import Path

import pytest
from pydantic import SecretStr

from followflow.settings import Settings
from followflow.xapi.tokens import (
    BLOCK_KEPT_S,
    FileTokenStore,
    OAuth2Tokens,
    SecretBlockTokenStore,
    token_store_from_settings,
)


def tokens(user_id: int, access: str = "acc", refresh: str | None = "ref") -> OAuth2Tokens:
    return OAuth2Tokens(
        access_token=SecretStr(access),
        refresh_token=SecretStr(refresh) if refresh else None,
        expires_at=1000.0,
        scope="users.read offline.access",
        user_id=user_id,
        username=f"u{user_id}",
    )


def test_file_is_private_and_replaced_atomically(tmp_path: Path) -> None:
    path = tmp_path / "cfg" / "tokens.json"
    store = FileTokenStore(path)
    assert store.load() is None
    store.save(tokens(1))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    inode = path.stat().st_ino
    store.save(tokens(1, access="acc2", refresh="ref2"))
    assert path.stat().st_ino != inode  # a new file renamed over the old one, not rewritten
    assert sorted(os.listdir(path.parent)) == ["tokens.json", "tokens.json.lock"]
    loaded = store.load(1)
    assert loaded is not None and loaded.refresh_token is not None
    assert loaded.refresh_token.get_secret_value() == "ref2"


def test_several_accounts_and_the_default(tmp_path: Path) -> None:
    store = FileTokenStore(tmp_path / "tokens.json")
    store.save(tokens(1, access="a1"))
    store.save(tokens(2, access="a2"))
    default = store.load()
    assert default is not None and default.user_id == 2
    one = store.load(1)
    assert one is not None and one.access_token.get_secret_value() == "a1"
    assert store.load(3) is None


def test_reprs_hide_secrets() -> None:
    shown = repr(tokens(1, access="acc-secret-value", refresh="ref-secret-value"))
    assert "secret-value" not in shown


def test_store_from_settings(settings: Settings, tmp_path: Path) -> None:
    file_store = token_store_from_settings(
        settings.model_copy(update={"token_store_path": tmp_path / "t.json"})
    )
    assert isinstance(file_store, FileTokenStore) and file_store.path == tmp_path / "t.json"
    block_store = token_store_from_settings(
        settings.model_copy(update={"token_store_block": "x-tokens"})
    )
    assert isinstance(block_store, SecretBlockTokenStore) and block_store.block_name == "x-tokens"


@pytest.mark.usefixtures("prefect_harness")
def test_a_block_is_read_once_a_minute_but_afresh_under_the_lock() -> None:
    from prefect.blocks.system import Secret

    def write_block(access: str) -> None:  # another host's write
        document = {"default": "7", "accounts": {"7": tokens(7, access=access).to_storage()}}
        Secret(value=json.dumps(document)).save(name, overwrite=True)

    def access(found: OAuth2Tokens | None) -> str:
        assert found is not None
        return found.access_token.get_secret_value()

    name = f"tokens-{uuid.uuid4().hex[:8]}"
    now = [0.0]
    store = SecretBlockTokenStore(name, clock=lambda: now[0])
    write_block("first")
    assert access(store.load(7)) == "first"
    write_block("second")
    now[0] += BLOCK_KEPT_S - 1
    assert access(store.load(7)) == "first", "kept: no read of the whole block per account"
    with store.locked():
        assert access(store.load(7)) == "second", "a refresh sees what the block holds now"
    store.save(tokens(7, access="third"))
    assert access(store.load(7)) == "third"
    write_block("fourth")
    now[0] += BLOCK_KEPT_S
    assert access(store.load(7)) == "fourth"
