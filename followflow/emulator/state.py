"""What has happened since the seed: follows, unfollows, pending requests, churn, the log.

The world (world.py) is the graph at time zero and never changes; this module keeps the
changes. A follow list is only materialised as an `EdgeList` when something changes it
(every owned account's lists are, up front); reading any other list builds a throwaway
view over the world's base. Every change touches both sides of an edge, so an owned
account's followers and its followers' following lists always agree.

Churn (followers gained and lost per owned account per emulator hour) is applied lazily:
before each request the state catches up to the clock. A lost follower usually unfollows;
about 1 in 20 is suspended and 1 in 30 deactivates, which takes them out of every owned
account's lists and makes lookups of them answer with an error, as on X.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Literal

from followflow.emulator.edges import EdgeList
from followflow.emulator.world import Status, World

FollowResult = Literal["following", "pending_follow", "already_following", "already_pending"]
UnfollowResult = Literal["unfollowed", "cancelled_pending", "not_following"]
SUSPEND_SHARE = 0.05
DEACTIVATE_SHARE = 0.033


@dataclass(frozen=True, slots=True)
class ActionRecord:
    """One follow or unfollow that reached the emulator's action stage."""

    at: float
    principal: str  # "<method>:<user id>", e.g. "oauth1:1234"; never a secret
    action: Literal["follow", "unfollow"]
    source_id: int
    target_id: int
    result: str


class State:
    """Mutable graph state on top of a `World`; callers hold the emulator's lock."""

    def __init__(self, world: World, *, churn_per_hour: float, start: float) -> None:
        self.world = world
        self._followers: dict[int, EdgeList] = {}
        self._following: dict[int, EdgeList] = {}
        for k in range(world.K):
            self._followers[k] = EdgeList(world.followers_base(k))
            self._following[k] = EdgeList(world.following_base(k))
        self.pending: set[tuple[int, int]] = set()
        self.status: dict[int, Status] = {}
        self.hidden: set[int] = set()  # suspended or deactivated since the start
        self.log: list[ActionRecord] = []
        self.version = 0  # bumped by every change: prefetched pages check it
        self.churn_per_hour = churn_per_hour
        self._churn_start = start
        self._churn_done = 0
        self._rng = random.Random(f"churn:{world.seed}")

    # --- reading ------------------------------------------------------------------------------
    def followers(self, index: int) -> EdgeList:
        edges = self._followers.get(index)
        return edges if edges is not None else EdgeList(self.world.followers_base(index))

    def following(self, index: int) -> EdgeList:
        edges = self._following.get(index)
        return edges if edges is not None else EdgeList(self.world.following_base(index))

    @property
    def changed(self) -> tuple[dict[int, EdgeList], dict[int, EdgeList]]:
        """The (followers, following) lists that differ from the world's, by index."""
        return self._followers, self._following

    def followers_count(self, index: int, h2: int) -> int:
        edges = self._followers.get(index)
        return edges.count if edges is not None else self.world.base_followers_count(index, h2)

    def following_count(self, index: int, h2: int) -> int:
        edges = self._following.get(index)
        return edges.count if edges is not None else self.world.base_following_count(index, h2)

    def status_of(self, index: int) -> Status:
        return self.status.get(index) or self.world.status_of(index)

    def relation(self, viewer: int, index: int) -> list[str]:
        """`connection_status` of `index` as `viewer` sees it."""
        out = []
        if (viewer, index) in self.pending:
            out.append("follow_request_sent")
        if index in self.following(viewer):
            out.append("following")
        if index in self.followers(viewer):
            out.append("followed_by")
        return out

    # --- changing -----------------------------------------------------------------------------
    def _materialise(self, table: dict[int, EdgeList], index: int, following: bool) -> EdgeList:
        edges = table.get(index)
        if edges is None:
            base = (
                self.world.following_base(index) if following else self.world.followers_base(index)
            )
            edges = EdgeList(base)
            table[index] = edges
        return edges

    def add_edge(self, source: int, target: int) -> bool:
        """`source` now follows `target` (newest on both lists); False if it already did."""
        self.version += 1
        added = self._materialise(self._following, source, True).add_front(target)
        self._materialise(self._followers, target, False).add_front(source)
        return added

    def remove_edge(self, source: int, target: int) -> bool:
        self.version += 1
        removed = self._materialise(self._following, source, True).remove(target)
        self._materialise(self._followers, target, False).remove(source)
        return removed

    def follow(self, source: int, target: int, protected: bool) -> FollowResult:
        if target in self.following(source):
            return "already_following"
        if protected:
            if (source, target) in self.pending:
                return "already_pending"
            self.pending.add((source, target))
            self.version += 1
            return "pending_follow"
        self.add_edge(source, target)
        return "following"

    def unfollow(self, source: int, target: int) -> UnfollowResult:
        if (source, target) in self.pending:
            self.pending.discard((source, target))
            self.version += 1
            return "cancelled_pending"
        return "unfollowed" if self.remove_edge(source, target) else "not_following"

    def approve(self, source: int, target: int) -> bool:
        """The protected `target` accepts `source`'s pending request."""
        if (source, target) not in self.pending:
            return False
        self.pending.discard((source, target))
        self.add_edge(source, target)
        return True

    def set_status(self, index: int, status: Status) -> None:
        """Suspend or deactivate a user: they vanish from every owned account's lists."""
        self.version += 1
        self.status[index] = status
        self.hidden.add(index)
        for k in range(self.world.K):
            if index in self._followers[k]:
                self.remove_edge(index, k)
            if index in self._following[k]:
                self.remove_edge(k, index)
        self.pending = {pair for pair in self.pending if index not in pair}

    # --- churn --------------------------------------------------------------------------------
    def catch_up(self, now: float) -> None:
        """Apply the churn due by `now` (rate x elapsed emulator hours, per owned account)."""
        if self.churn_per_hour <= 0:
            return
        due = math.floor(self.churn_per_hour * max(0.0, now - self._churn_start) / 3600.0)
        if due <= self._churn_done:
            return
        steps, self._churn_done = due - self._churn_done, due
        for k in range(self.world.K):
            self.churn(k, steps, steps)

    def churn(self, k: int, gained: int, lost: int) -> tuple[list[int], list[int]]:
        """`lost` followers of `k` leave, then `gained` new ones arrive (newest first)."""
        world, rng = self.world, self._rng
        edges = self._followers[k] if k < world.K else self._materialise(self._followers, k, False)
        lost_ids: list[int] = []
        for _ in range(min(lost, edges.count)):
            index = random_member(edges, rng)
            draw = rng.random()
            if draw < SUSPEND_SHARE:
                self.set_status(index, "suspended")
            elif draw < SUSPEND_SHARE + DEACTIVATE_SHARE:
                self.set_status(index, "deactivated")
            else:
                self.remove_edge(index, k)
            lost_ids.append(index)
        gained_ids: list[int] = []
        for _ in range(gained):
            for _attempt in range(64):
                index = rng.randrange(world.K, world.K + world.D)
                if index != k and index not in self.hidden and index not in edges:
                    self.add_edge(index, k)
                    gained_ids.append(index)
                    break
        return gained_ids, lost_ids


def random_member(edges: EdgeList, rng: random.Random) -> int:
    """A uniformly drawn live member (rejection over removed positions, which are few)."""
    added = edges.count - (edges.n_base - len(edges.removed))
    k = rng.randrange(edges.count)
    if k < added:
        return edges.item_at(k)
    for _ in range(256):
        pos = rng.randrange(edges.n_base)
        if pos not in edges.removed:
            return edges.base.slice(pos, pos + 1)[0]
    return edges.item_at(rng.randrange(edges.count))
