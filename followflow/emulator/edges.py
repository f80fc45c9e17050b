"""Follow lists: a lazily computed base plus a small overlay of changes.

A base sequence is the list as the seed made it, newest first. Most of it is never stored:
an `AffineSeq` computes position j of a list of a million followers with one multiply and
one modulo, and can tell where a user sits with the modular inverse. `EdgeList` lays the
changes on top (follows added at the front, removals as a set of base positions).

Every item carries a sequence number that only grows with recency: base position j has
`n_base - j`, each addition gets the next number above every earlier one. Pagination
cursors are sequence numbers (see paging.py), which is why a list can change under a
reader without anyone being returned twice.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Sequence, Set
from typing import Protocol


class BaseSeq(Protocol):
    """A read-only list of user indices, newest first."""

    def __len__(self) -> int: ...

    def slice(self, start: int, stop: int) -> list[int]: ...

    def position(self, index: int) -> int | None: ...


class AffineSeq:
    """Position j holds `offset + v` with v = (a*j + b) mod m, skipping one value if asked.

    With gcd(a, m) = 1 this walks a permutation of range(m), so the first n positions are
    n distinct users; `skip` leaves out one value (a user never follows themself).
    """

    __slots__ = ("_a", "_a_inv", "_b", "_m", "_n", "_offset", "_skip")

    def __init__(self, n: int, m: int, a: int, b: int, offset: int, skip: int | None = None):
        if m <= 0 or not 0 <= n <= m:
            raise ValueError(f"bad affine sequence n={n} m={m}")
        self._n, self._m, self._a, self._b = n, m, a % m, b % m
        self._a_inv = pow(self._a, -1, m) if m > 1 else 0
        self._offset, self._skip = offset, skip

    def __len__(self) -> int:
        return self._n

    def slice(self, start: int, stop: int) -> list[int]:
        stop = min(stop, self._n)
        if start >= stop:
            return []
        a, b, m, offset, skip = self._a, self._b, self._m, self._offset, self._skip
        if skip is None:
            return [offset + (a * j + b) % m for j in range(start, stop)]
        values = [(a * j + b) % m for j in range(start, stop)]
        return [offset + v + (v >= skip) for v in values]

    def position(self, index: int) -> int | None:
        v = index - self._offset
        if self._skip is not None:
            if v == self._skip:
                return None
            if v > self._skip:
                v -= 1
        if not 0 <= v < self._m:
            return None
        j = (v - self._b) * self._a_inv % self._m
        return j if j < self._n else None


class ListSeq:
    """An explicit, stored list (owned accounts' following lists, small initial parts)."""

    __slots__ = ("_items", "_where")

    def __init__(self, items: Sequence[int]):
        self._items = list(items)
        self._where: dict[int, int] | None = None

    def __len__(self) -> int:
        return len(self._items)

    def slice(self, start: int, stop: int) -> list[int]:
        return self._items[start:stop]

    def position(self, index: int) -> int | None:
        if self._where is None:
            self._where = {item: j for j, item in enumerate(self._items)}
        return self._where.get(index)


class ConcatSeq:
    """`head` (newer) followed by `tail` (older)."""

    __slots__ = ("_head", "_tail", "_split")

    def __init__(self, head: BaseSeq, tail: BaseSeq):
        self._head, self._tail, self._split = head, tail, len(head)

    def __len__(self) -> int:
        return self._split + len(self._tail)

    def slice(self, start: int, stop: int) -> list[int]:
        split = self._split
        if stop <= split:
            return self._head.slice(start, stop)
        if start >= split:
            return self._tail.slice(start - split, stop - split)
        return self._head.slice(start, split) + self._tail.slice(0, stop - split)

    def position(self, index: int) -> int | None:
        pos = self._head.position(index)
        if pos is not None:
            return pos
        pos = self._tail.position(index)
        return None if pos is None else pos + self._split


class Window:
    """One page read from an `EdgeList`: indices newest first and where the cursor stands."""

    __slots__ = ("first_seq", "has_more", "indices", "last_seq")

    def __init__(self, indices: list[int], first_seq: int, last_seq: int, has_more: bool):
        self.indices, self.first_seq, self.last_seq = indices, first_seq, last_seq
        self.has_more = has_more


class EdgeList:
    """A follow list: base sequence + additions at the front + removed base positions."""

    __slots__ = (
        "_added_at",
        "_added_idx",
        "_added_seq",
        "_next_seq",
        "base",
        "count",
        "n_base",
        "removed",
    )

    def __init__(self, base: BaseSeq):
        self.base = base
        self.n_base = len(base)
        self.removed: set[int] = set()
        self._added_seq: list[int] = []  # ascending
        self._added_idx: list[int] = []
        self._added_at: dict[int, int] = {}
        self._next_seq = self.n_base + 1
        self.count = self.n_base

    def __contains__(self, index: int) -> bool:
        if index in self._added_at:
            return True
        pos = self.base.position(index)
        return pos is not None and pos not in self.removed

    def add_front(self, index: int) -> bool:
        """Make `index` the newest item; False (and no change) if it is already listed."""
        if index in self:
            return False
        seq = self._next_seq
        self._next_seq += 1
        self._added_seq.append(seq)
        self._added_idx.append(index)
        self._added_at[index] = seq
        self.count += 1
        return True

    def remove(self, index: int) -> bool:
        """Take `index` out; False if it was not listed."""
        seq = self._added_at.pop(index, None)
        if seq is not None:
            i = bisect_left(self._added_seq, seq)
            del self._added_seq[i]
            del self._added_idx[i]
            self.count -= 1
            return True
        pos = self.base.position(index)
        if pos is None or pos in self.removed:
            return False
        self.removed.add(pos)
        self.count -= 1
        return True

    def item_at(self, k: int) -> int:
        """The k-th live item, newest first (used to pick a random follower to lose)."""
        added = len(self._added_idx)
        if k < added:
            return self._added_idx[added - 1 - k]
        k -= added
        if not self.removed:
            return self.base.slice(k, k + 1)[0]
        # Removals are few: walk sorted removed positions to find the k-th survivor.
        pos = k
        for r in sorted(self.removed):
            if r <= pos:
                pos += 1
            else:
                break
        return self.base.slice(pos, pos + 1)[0]

    def all(self) -> list[int]:
        """Every item, newest first."""
        return self.older_than(None, self.count + 1, frozenset()).indices

    def older_than(self, cursor: int | None, n: int, hidden: Set[int]) -> Window:
        """Up to n items with sequence number below `cursor` (None: from the newest)."""
        out: list[int] = []
        need = n + 1
        first_seq = last_seq = 0
        seqs, idxs = self._added_seq, self._added_idx
        i = (len(seqs) if cursor is None else bisect_left(seqs, cursor)) - 1
        while i >= 0 and len(out) < need:
            if idxs[i] not in hidden:
                out.append(idxs[i])
                if len(out) == 1:
                    first_seq = seqs[i]
                if len(out) <= n:
                    last_seq = seqs[i]
            i -= 1
        n_base = self.n_base
        j = 0 if cursor is None or cursor > n_base else n_base - cursor + 1
        while len(out) < need and j < n_base:
            stop = min(n_base, j + need - len(out))
            chunk = self.base.slice(j, stop)
            if not self.removed and hidden.isdisjoint(chunk):
                take = chunk
                positions: Sequence[int] = range(j, j + len(take))
            else:
                pairs = [
                    (j + off, idx)
                    for off, idx in enumerate(chunk)
                    if (j + off) not in self.removed and idx not in hidden
                ]
                take = [idx for _, idx in pairs]
                positions = [pos for pos, _ in pairs]
            if take:
                if not out:
                    first_seq = n_base - positions[0]
                room = n - len(out)
                if room > 0:
                    last_seq = n_base - positions[min(room, len(take)) - 1]
                out.extend(take)
            j = stop
        has_more = len(out) > n
        return Window(out[:n], first_seq, last_seq, has_more)

    def newer_than(self, cursor: int, n: int, hidden: Set[int]) -> Window:
        """Up to n items with sequence number above `cursor`, closest first; newest first."""
        out: list[int] = []
        out_seq: list[int] = []
        need = n + 1
        n_base = self.n_base
        j = min(n_base, n_base - cursor) - 1  # highest base position with seq > cursor
        while len(out) < need and j >= 0:
            start = max(0, j - (need - len(out)) + 1)
            chunk = self.base.slice(start, j + 1)
            for off in range(len(chunk) - 1, -1, -1):
                pos = start + off
                if pos in self.removed or chunk[off] in hidden:
                    continue
                out.append(chunk[off])
                out_seq.append(n_base - pos)
            j = start - 1
        seqs, idxs = self._added_seq, self._added_idx
        i = bisect_right(seqs, cursor)
        while i < len(seqs) and len(out) < need:
            if idxs[i] not in hidden:
                out.append(idxs[i])
                out_seq.append(seqs[i])
            i += 1
        has_more = len(out) > n
        out, out_seq = out[:n], out_seq[:n]
        out.reverse()
        out_seq.reverse()
        if not out:
            return Window([], 0, 0, has_more)
        return Window(out, out_seq[0], out_seq[-1], has_more)
