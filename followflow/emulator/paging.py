"""Pagination of follower and following lists: opaque tokens over sequence-number cursors.

Lists come newest first. A token is 16 base32hex characters (like X's "5CS0O0C6II61EZZZ")
holding a direction, a sequence number (see edges.py) and a 32-bit MAC over the list it
belongs to, so a token made up, mangled, or taken from another user's list is refused with
X's 400 "is not a valid token". `next_token` is absent on the last page and
`previous_token` absent on the first.

When the list changes during paging (documented behaviour, tested):
- a page continues strictly below the sequence number of the last item already returned,
  so nothing already returned is returned again, whatever was added or removed;
- users who follow after paging began are newer than every cursor and are not returned
  (the next full snapshot sees them);
- users who unfollow before their page is read are not returned;
- a user who unfollows and follows again gets a new, higher sequence number: returned
  once if their old position had already been read, otherwise not at all.
So a snapshot taken while the list changes holds exactly the users who followed before it
started and had not left (even briefly) by the time their page was read; never a duplicate.
"""

from __future__ import annotations

import hashlib
from collections.abc import Set
from typing import Any, Literal, NamedTuple

from followflow.emulator.edges import EdgeList

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUV"  # base32hex, as X's spec says
_DECODE = {c: i for i, c in enumerate(ALPHABET)}
SEQ_BITS = 47
TOKEN_LEN = 16


class Cursor(NamedTuple):
    direction: Literal["next", "prev"]
    seq: int


class Tokens:
    """Makes and checks pagination tokens for one emulator (keyed by its seed)."""

    def __init__(self, seed: int) -> None:
        self._key = hashlib.blake2b(f"paging:{seed}".encode(), digest_size=16).digest()

    def _mac(self, list_key: str, payload: int) -> int:
        digest = hashlib.blake2b(f"{list_key}:{payload}".encode(), key=self._key, digest_size=4)
        return int.from_bytes(digest.digest(), "big")

    def _mask(self, mac: int) -> int:
        digest = hashlib.blake2b(mac.to_bytes(4, "big"), key=self._key, digest_size=6)
        return int.from_bytes(digest.digest(), "big")

    def encode(self, list_key: str, cursor: Cursor) -> str:
        payload = ((cursor.direction == "prev") << SEQ_BITS) | cursor.seq
        mac = self._mac(list_key, payload)
        # Masking the payload with a function of the MAC makes tokens look random.
        value = ((payload ^ self._mask(mac)) << 32) | mac
        chars = []
        for _ in range(TOKEN_LEN):
            value, digit = divmod(value, 32)
            chars.append(ALPHABET[digit])
        return "".join(reversed(chars))

    def decode(self, list_key: str, token: str) -> Cursor | None:
        """The cursor in `token`, or None if the token is not one of this list's."""
        if len(token) != TOKEN_LEN:
            return None
        value = 0
        for char in token:
            digit = _DECODE.get(char)
            if digit is None:
                return None
            value = value * 32 + digit
        mac = value & 0xFFFFFFFF
        payload = (value >> 32) ^ self._mask(mac)
        if mac != self._mac(list_key, payload):
            return None
        direction: Literal["next", "prev"] = "prev" if payload >> SEQ_BITS else "next"
        return Cursor(direction, payload & ((1 << SEQ_BITS) - 1))


def read_page(
    edges: EdgeList,
    cursor: Cursor | None,
    n: int,
    hidden: Set[int],
    tokens: Tokens,
    list_key: str,
) -> tuple[list[int], dict[str, Any], Cursor | None]:
    """One page of `edges` from `cursor`, its `meta` object, and the next page's cursor."""
    if cursor is None or cursor.direction == "next":
        window = edges.older_than(None if cursor is None else cursor.seq, n, hidden)
    else:
        window = edges.newer_than(cursor.seq, n, hidden)
    meta: dict[str, Any] = {"result_count": len(window.indices)}
    if not window.indices:
        return [], meta, None
    if cursor is None or cursor.direction == "next":
        older = window.has_more
        newer = cursor is not None and edges.newer_than(window.first_seq, 0, hidden).has_more
    else:
        older = edges.older_than(window.last_seq, 0, hidden).has_more
        newer = window.has_more
    following = Cursor("next", window.last_seq) if older else None
    if following is not None:
        meta["next_token"] = tokens.encode(list_key, following)
    if newer:
        meta["previous_token"] = tokens.encode(list_key, Cursor("prev", window.first_seq))
    return window.indices, meta, following
