"""The synthetic graph a seed makes: who exists, who follows whom, before anything happens.

Users are numbered by an index. The first K indices are the owned accounts (the ones with
credentials), the next D are ordinary active users, the last few are suspended or
deactivated. Nothing per user is stored: a user's id, name, profile and counts are
computed from a hash of (seed, index), and follow lists are `AffineSeq`s, so the
1,000,000-follower world costs a few megabytes.

How edges are made, and what holds:
- An owned account k is followed by the users at positions [o_k, o_k + c_k) of one shared
  permutation P of the active users. So "does u follow k" is one modular inverse, and how
  many owned accounts u follows is one bisect over the interval ends.
- Owned accounts' following lists are stored explicitly (a few thousand each); a share
  of them are the account's own followers (mutuals), the rest are not (follow-back and
  clean-up both have candidates).
- Non-owned users' own lists are sampled independently per user: their lengths equal their
  `public_metrics` counts exactly, but an edge between two non-owned users is not mirrored
  on the other side (a deviation from X that nothing here relies on). Every edge that
  touches an owned account is mirrored.
- User ids are snowflakes: `(created_ms - twepoch) << 22 | index`, so ids grow with
  `created_at` like X's and the index is read back from the low 22 bits.
"""

from __future__ import annotations

import random
import re
from bisect import bisect_right
from dataclasses import dataclass
from functools import cache
from typing import Literal

from followflow.emulator import pools
from followflow.emulator.edges import AffineSeq, BaseSeq, ConcatSeq, ListSeq

Size = Literal["demo", "large"]
Status = Literal["active", "suspended", "deactivated"]

M64 = (1 << 64) - 1
TWEPOCH_MS = 1_288_834_974_657
INDEX_BITS = 22
INDEX_MASK = (1 << INDEX_BITS) - 1
CREATED_FROM_S = 1_293_840_000  # 2011-01-01T00:00:00Z: day 0 of creation dates
CREATED_DAYS = (1_751_328_000 - CREATED_FROM_S) // 86_400  # up to 2025-07-01
OWNED_FIRST_DAY = (1_451_606_400 - CREATED_FROM_S) // 86_400  # owned: 2016-2019
OWNED_DAYS = 4 * 365
# Primes above any domain size: products of two are always coprime to the modulus.
PRIMES = (
    2100001, 2100011, 2100031, 2100041, 2100053, 2100071, 2100079, 2100097,
    2100113, 2100121, 2100167, 2100173, 2100181, 2100191, 2100193, 2100221,
)  # fmt: skip
DOMAIN = {"demo": 120_000, "large": 1_400_000}
SIZE_ALIASES: dict[str, Size] = {"demo": "demo", "test": "demo", "large": "large", "bench": "large"}
FLEET_MIN_FOLLOWERS = 50
FLEET_SHAPE = 1.1
FLEET_MAX_FOLLOWING = 2000
_USERNAME = re.compile(r"([A-Za-z_]+?)([1-9][0-9]*)")


def mix(x: int) -> int:
    """splitmix64's finaliser: a good 64-bit hash of an int."""
    x = (x + 0x9E3779B97F4A7C15) & M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & M64
    return x ^ (x >> 31)


def second_hash(h1: int) -> int:
    """A second hash from the first: one multiply, as h1 is already well mixed."""
    return ((h1 ^ (h1 >> 29)) * 0xBF58476D1CE4E5B9) & M64


def _quantiles(scale: float, exponent: float, shift: int, cap: int) -> list[int]:
    n = 1 << 16
    return [min(cap, int(scale * (1.0 - (i + 0.5) / n) ** -exponent) - shift) for i in range(n)]


@cache
def profile_table(seed: int, domain: int) -> tuple[tuple[int, int, int, int], ...]:
    """65,536 (followers, following, posts, likes per post) rows, heavy tailed.

    One table row per user (picked by 16 hash bits) instead of three `pow`s: the page
    renderer's hot path. Each column is shuffled on its own so the counts look independent.
    """
    rng = random.Random(f"profile-table:{seed}")
    followers = _quantiles(25.0, 1.1, 5, domain - 1)
    following = _quantiles(40.0, 0.7, 10, min(domain - 1, 7500))
    posts = _quantiles(3.0, 1.4, 2, 10_000_000)
    for column in (followers, following, posts):
        rng.shuffle(column)
    likes = [1 + rng.randrange(7) for _ in followers]
    return tuple(zip(followers, following, posts, likes, strict=True))


@dataclass(frozen=True, slots=True)
class OwnedSpec:
    """An account the emulator holds credentials for, and how its lists start."""

    username: str
    name: str
    followers: int
    following: int
    mutual_share: float  # share of its following that are its own followers


def owned_specs(size: Size, seed: int, fleet: int = 0) -> list[OwnedSpec]:
    """The owned accounts of a world: the same names in every seed, counts as documented,
    then `fleet` more (`fleet_specs`)."""
    rng = random.Random(f"owned:{seed}")
    specs = [
        OwnedSpec("ff_demo", "followflow demo", rng.randint(2900, 3100), 1200, 0.6),
        OwnedSpec("ff_alice", "Alice (followflow)", rng.randint(760, 840), 400, 0.5),
        OwnedSpec("ff_bob", "Bob (followflow)", rng.randint(140, 160), 300, 0.3),
        OwnedSpec("ff_zero", "Zero Followers", 0, 0, 0.0),
        OwnedSpec("ff_one", "One Follower", 1, 1, 0.0),
        OwnedSpec("ff_999", "Nine Nine Nine", 999, 999, 0.3),
        OwnedSpec("ff_1000", "One Thousand", 1000, 1000, 0.3),
        OwnedSpec("ff_1001", "One Thousand One", 1001, 1001, 0.3),
    ]
    team_sizes = (500, 1200, 2500, 3700, 5000, 7500, 10_000, 12_500, 16_000, 20_000)
    for i, n in enumerate(team_sizes):
        specs.append(OwnedSpec(f"ff_team{i}", f"Team account {i}", n, 100 + n // 10, 0.4))
    if size == "large":
        specs += [
            OwnedSpec("ff_100k", "100k followers", 100_000, 1000, 0.3),
            OwnedSpec("ff_150k", "150k followers", 150_000, 1500, 0.3),
            OwnedSpec("ff_250k", "250k followers", 250_000, 2500, 0.3),
            OwnedSpec("ff_million", "A million followers", 1_000_000, 5000, 0.3),
        ]
    return specs + fleet_specs(fleet, seed, DOMAIN[size])


def fleet_specs(n: int, seed: int, domain: int) -> list[OwnedSpec]:
    """`n` accounts `ff_fleet<i>` whose follower counts are heavy tailed, like real ones.

    Pareto with shape 1.1 above 50 followers: the median is ~94, about one in 160 has more
    than 5,000 and the largest of 500 usually tens of thousands (capped at a quarter of
    the world); seed 1 gives 500 accounts a median of 100 and a largest of 19,052. The
    same seed draws the same counts.
    """
    if n < 0:
        raise ValueError("the number of fleet accounts must be >= 0")
    rng = random.Random(f"fleet:{seed}")
    specs = []
    for i in range(n):
        followers = min(domain // 4, int(FLEET_MIN_FOLLOWERS * rng.paretovariate(FLEET_SHAPE)))
        following = min(FLEET_MAX_FOLLOWING, FLEET_MIN_FOLLOWERS + followers // 10)
        specs.append(OwnedSpec(f"ff_fleet{i}", f"Fleet account {i}", followers, following, 0.4))
    return specs


class World:
    """The seed's graph and profiles; immutable (changes live in `state.State`)."""

    def __init__(self, seed: int = 1, size: str = "demo", fleet: int = 0) -> None:
        if size not in SIZE_ALIASES:
            raise ValueError(f"unknown world size {size!r}: use 'demo' or 'large'")
        self.seed = seed
        self.size: Size = SIZE_ALIASES[size]
        self.salt = mix(seed * 0x2545F4914F6CDD1D + 0x1234567)
        self.owned = owned_specs(self.size, seed, fleet)
        self.K = len(self.owned)
        self.D = DOMAIN[self.size]
        self.n_inactive = self.D // 50
        self.universe = self.K + self.D + self.n_inactive
        self.profile_table = profile_table(seed, self.D)
        rng = random.Random(f"world:{seed}:{self.size}")
        self._A = PRIMES[rng.randrange(16)] * PRIMES[rng.randrange(16)] % self.D
        self._A_inv = pow(self._A, -1, self.D)
        self._B = rng.randrange(self.D)
        self._offsets = [rng.randrange(self.D) for _ in self.owned]
        self._by_username = {spec.username.lower(): k for k, spec in enumerate(self.owned)}
        self._following_lists = [self._make_following(k, rng) for k in range(self.K)]
        self.owned_followers_of: dict[int, list[int]] = {}
        for k, items in enumerate(self._following_lists):
            for u in items:
                self.owned_followers_of.setdefault(u, []).append(k)
        self._breaks, self._cover = self._coverage()

    # --- identities -----------------------------------------------------------------------
    def hashes(self, index: int) -> tuple[int, int]:
        """Two independent 64-bit hashes of a user; every profile attribute comes from them."""
        h1 = mix(index ^ self.salt)
        return h1, second_hash(h1)

    def created_day_second(self, index: int, h1: int) -> tuple[int, int]:
        """Creation day (since CREATED_FROM_S) and second of that day."""
        # Multiply-shift instead of modulo, and a second of day below 86,400 by
        # construction: the page renderer inlines this.
        if index < self.K:
            day = OWNED_FIRST_DAY + ((h1 & 0x1FFF) * OWNED_DAYS >> 13)
        else:
            day = (h1 & 0x1FFF) * CREATED_DAYS >> 13
        return day, ((h1 >> 13) & 0xFFFF) + ((h1 >> 29) & 0x3FFF)

    def created_s(self, index: int, h1: int) -> int:
        day, second = self.created_day_second(index, h1)
        return CREATED_FROM_S + day * 86_400 + second

    def id_of(self, index: int) -> int:
        h1 = mix(index ^ self.salt)
        return self.snowflake(index, self.created_s(index, h1), h1)

    @staticmethod
    def snowflake(index: int, created_s: int, h1: int) -> int:
        ms = created_s * 1000 + ((h1 >> 32) & 511)
        return ((ms - TWEPOCH_MS) << INDEX_BITS) | index

    def index_of_id(self, user_id: int) -> int | None:
        """The index of a user id, or None if no such user was ever created."""
        index = user_id & INDEX_MASK
        if index >= self.universe or self.id_of(index) != user_id:
            return None
        return index

    def username_of(self, index: int, h1: int | None = None) -> str:
        if index < self.K:
            return self.owned[index].username
        if h1 is None:
            h1 = mix(index ^ self.salt)
        prefixes = pools.USERNAME_PREFIXES
        return prefixes[(h1 >> 56) % len(prefixes)] + str(index)

    def name_of(self, index: int, h1: int) -> str:
        if index < self.K:
            return self.owned[index].name
        first = pools.FIRST_NAMES[(h1 >> 40) % len(pools.FIRST_NAMES)]
        return first + " " + pools.LAST_NAMES[(h1 >> 48) % len(pools.LAST_NAMES)]

    def index_of_username(self, username: str) -> int | None:
        """Case-insensitive, as X's are."""
        owned = self._by_username.get(username.lower())
        if owned is not None:
            return owned
        m = _USERNAME.fullmatch(username)
        if m is None:
            return None
        index = int(m.group(2))
        if not self.K <= index < self.universe:
            return None
        return index if self.username_of(index).lower() == username.lower() else None

    def status_of(self, index: int) -> Status:
        if index < self.K + self.D:
            return "active"
        return "suspended" if mix(index ^ self.salt) & 1 else "deactivated"

    def owned_index(self, username: str) -> int:
        k = self._by_username.get(username.lower())
        if k is None:
            raise KeyError(f"no owned account named {username!r}")
        return k

    # --- counts ---------------------------------------------------------------------------
    def _random_followers_count(self, h2: int) -> int:
        return self.profile_table[(h2 >> 12) & 0xFFFF][0]

    def _random_following_count(self, h2: int) -> int:
        return self.profile_table[(h2 >> 12) & 0xFFFF][1]

    def base_followers_count(self, index: int, h2: int) -> int:
        if index < self.K:
            return self.owned[index].followers
        return self._random_followers_count(h2) + len(self.owned_followers_of.get(index, ()))

    def base_following_count(self, index: int, h2: int) -> int:
        if index < self.K:
            return len(self._following_lists[index])
        return self._random_following_count(h2) + self._owned_followed_count(index)

    def base_counts(self, index: int, h2: int) -> tuple[int, int]:
        """(followers, following) at the start, in one call (the page renderer's hot path)."""
        if index < self.K:
            return self.owned[index].followers, len(self._following_lists[index])
        fc, gc, _, _ = self.profile_table[(h2 >> 12) & 0xFFFF]
        owned_followers = self.owned_followers_of.get(index)
        if owned_followers is not None:
            fc += len(owned_followers)
        p = (index - self.K - self._B) * self._A_inv % self.D
        i = bisect_right(self._breaks, p) - 1
        return fc, gc + (self._cover[i] if i >= 0 else 0)

    def coverage_params(self) -> tuple[list[int], list[int], int, int, int]:
        """(breaks, cover, A_inv, D, K + B): how many owned accounts index i follows at the
        start is cover[bisect_right(breaks, (i - (K + B)) * A_inv % D) - 1] (0 below breaks[0])."""
        return self._breaks, self._cover, self._A_inv, self.D, self.K + self._B

    def _owned_followed_count(self, index: int) -> int:
        p = (index - self.K - self._B) * self._A_inv % self.D
        i = bisect_right(self._breaks, p) - 1
        return self._cover[i] if i >= 0 else 0

    # --- lists ----------------------------------------------------------------------------
    def followers_base(self, index: int) -> BaseSeq:
        """Who follows `index` at the start, newest first."""
        if index < self.K:
            spec = self.owned[index]
            b = self._A * self._offsets[index] + self._B
            return AffineSeq(spec.followers, self.D, self._A, b, self.K)
        if index >= self.K + self.D:
            return ListSeq([])
        _, h2 = self.hashes(index)
        h3 = mix(h2)
        head = ListSeq(self.owned_followers_of.get(index, []))
        tail = self._random_seq(index, self._random_followers_count(h2), h3)
        return ConcatSeq(head, tail)

    def following_base(self, index: int) -> BaseSeq:
        """Whom `index` follows at the start, newest first."""
        if index < self.K:
            return ListSeq(self._following_lists[index])
        if index >= self.K + self.D:
            return ListSeq([])
        _, h2 = self.hashes(index)
        h4 = mix(h2 ^ 0x5DEECE66D)
        head = ListSeq(self.owned_followed_by(index))
        tail = self._random_seq(index, self._random_following_count(h2), h4)
        return ConcatSeq(head, tail)

    def owned_followed_by(self, index: int) -> list[int]:
        """The owned accounts `index` follows at the start (it is in their follower range)."""
        if not self.K <= index < self.K + self.D:
            return []
        p = (index - self.K - self._B) * self._A_inv % self.D
        return [
            k
            for k, spec in enumerate(self.owned)
            if (p - self._offsets[k]) % self.D < spec.followers
        ]

    def _random_seq(self, index: int, n: int, h: int) -> AffineSeq:
        m = self.D - 1
        a = PRIMES[h & 15] * PRIMES[(h >> 4) & 15] % m
        return AffineSeq(n, m, a, (h >> 8) % m, self.K, skip=index - self.K)

    def _make_following(self, k: int, rng: random.Random) -> list[int]:
        spec = self.owned[k]
        mutual = min(spec.followers, round(spec.following * spec.mutual_share))
        others = spec.following - mutual
        base = self.followers_base(k)
        picks = [base.slice(j, j + 1)[0] for j in rng.sample(range(spec.followers), mutual)]
        start = self._offsets[k] + spec.followers
        for q in rng.sample(range(self.D - spec.followers), others):
            p = (start + q) % self.D
            picks.append(self.K + (self._A * p + self._B) % self.D)
        rng.shuffle(picks)
        return picks

    def _coverage(self) -> tuple[list[int], list[int]]:
        events: dict[int, int] = {}
        for k, spec in enumerate(self.owned):
            if spec.followers == 0:
                continue
            o, end = self._offsets[k], self._offsets[k] + spec.followers
            spans = [(o, end)] if end <= self.D else [(o, self.D), (0, end - self.D)]
            for lo, hi in spans:
                events[lo] = events.get(lo, 0) + 1
                events[hi] = events.get(hi, 0) - 1
        breaks = sorted(events)
        cover, running = [], 0
        for b in breaks:
            running += events[b]
            cover.append(running)
        return breaks, cover
