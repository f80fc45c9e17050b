"""User and post objects as X returns them, computed from a user's hashes.

This is the hot path of a follower page (1,000 users per request), so it avoids per-user
work that can be shared: the profile parts drawn from pools (bio, location, URL, avatar,
flags) are pre-built once per field selection as small dicts, and each user only adds
id, names, dates and counts.

Deviations from X, on purpose: `affiliation`, `withheld` and `confirmed_email` are never
returned (no user here has them); `entities` covers profile URLs, hashtags and mentions.
"""

from __future__ import annotations

import random
from bisect import bisect_right
from collections.abc import Callable, Mapping, Set
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, Protocol

from followflow.emulator import pools
from followflow.emulator.fields import Selection
from followflow.emulator.world import (
    CREATED_DAYS,
    CREATED_FROM_S,
    M64,
    TWEPOCH_MS,
    World,
    mix,
)

TAIL_POOL = 4096
TWEET_SPAN_END_S = 1_761_955_200  # 2025-11-01: posts are dated before this
DEFAULT_AVATAR = "https://abs.twimg.com/sticky/default_profile_images/default_profile_normal.png"
TAIL_FIELDS = (
    "description",
    "entities",
    "is_identity_verified",
    "location",
    "parody",
    "profile_image_url",
    "protected",
    "receives_your_dm",
    "subscribes_to_you",
    "subscription_type",
    "url",
    "verified",
    "verified_type",
)

JSON = dict[str, Any]
# Every second of a day, preformatted: one list index instead of three divmods and a format.
_TIMES = [f"T{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}.000Z" for s in range(86_400)]


class _Counted(Protocol):
    count: int


Changed = tuple[Mapping[int, _Counted], Mapping[int, _Counted]]


def _entities(description: str, short_url: str, expanded: str) -> JSON:
    entities: JSON = {}
    if short_url:
        display = expanded.removeprefix("https://")
        url_entity = {
            "start": 0,
            "end": len(short_url),
            "url": short_url,
            "expanded_url": expanded,
            "display_url": display,
        }
        entities["url"] = {"urls": [url_entity]}
    desc: JSON = {}
    for word_start, word in _words(description):
        if word.startswith("#") and len(word) > 1:
            tag = {"start": word_start, "end": word_start + len(word), "tag": word[1:]}
            desc.setdefault("hashtags", []).append(tag)
        elif word.startswith("@") and len(word) > 1:
            mention = {"start": word_start, "end": word_start + len(word), "username": word[1:]}
            desc.setdefault("mentions", []).append(mention)
    if desc:
        entities["description"] = desc
    return entities


def _words(text: str) -> list[tuple[int, str]]:
    out, pos = [], 0
    for word in text.split(" "):
        clean = word.rstrip(".,!")
        out.append((pos, clean))
        pos += len(word) + 1
    return out


@lru_cache(maxsize=4)
def _build_tails(seed: int) -> tuple[JSON, ...]:
    rng = random.Random(f"tails:{seed}")
    tails = []
    for _ in range(TAIL_POOL):
        description = (rng.choice(pools.BIO_HEADS) + rng.choice(pools.BIO_TAILS)).strip()
        if rng.random() < 0.3:  # many real profiles have no bio and no location
            description = ""
        expanded = short = ""
        if rng.random() < 0.35:
            expanded = f"https://{rng.choice(pools.LINK_HOSTS)}/{rng.getrandbits(24):x}"
            short = "https://t.co/" + "".join(rng.choices("abcdefghijkLMNOPQRSTUVWXYZ0123", k=10))
        verified = rng.random() < 0.03
        avatar = DEFAULT_AVATAR
        if rng.random() > 0.12:
            avatar = (
                f"https://pbs.twimg.com/profile_images/{rng.getrandbits(60)}/"
                f"{rng.getrandbits(40):x}_normal.jpg"
            )
        tail: JSON = {
            "description": description,
            "entities": _entities(description, short, expanded),
            "is_identity_verified": verified and rng.random() < 0.5,
            "location": rng.choice(pools.LOCATIONS) if rng.random() < 0.55 else "",
            "parody": rng.random() < 0.005,
            "profile_image_url": avatar,
            "protected": rng.random() < 0.03,
            "receives_your_dm": rng.random() < 0.4,
            "subscribes_to_you": False,
            "subscription_type": "Premium" if verified else "None",
            "url": short,
            "verified": verified,
            "verified_type": rng.choice(pools.VERIFIED_TYPES) if verified else "none",
        }
        tails.append(tail)
    return tuple(tails)


def _project(tail: JSON, fields: Set[str]) -> JSON:
    out = {key: tail[key] for key in TAIL_FIELDS if key in fields}
    # X leaves out what a user never filled in, except `description` and `url` ("").
    if not out.get("location", True):
        del out["location"]
    if "entities" in out and not out["entities"]:
        del out["entities"]
    return out


class Profiles:
    """Renders users and their pinned or latest posts for one world."""

    def __init__(self, world: World) -> None:
        self.world = world
        self._tails = _build_tails(world.seed)
        owned_tail = dict(self._tails[0])
        owned_tail.update(
            description="An account managed with followflow.",
            entities={},
            location="",
            protected=False,
            url="",
        )
        self._owned_tail = owned_tail
        self._projected: dict[frozenset[str], tuple[list[JSON], JSON]] = {}
        # Day 0 is CREATED_FROM_S; posts are dated up to TWEET_SPAN_END_S.
        self._days = [
            datetime.fromtimestamp(CREATED_FROM_S + d * 86_400, UTC).strftime("%Y-%m-%d")
            for d in range((TWEET_SPAN_END_S - CREATED_FROM_S) // 86_400 + 1)
        ]

    def protected(self, index: int) -> bool:
        """Whether a user's posts are protected (follows to them wait for approval)."""
        if index < self.world.K:
            return False
        _, h2 = self.world.hashes(index)
        return bool(self._tails[h2 & (TAIL_POOL - 1)]["protected"])

    def iso(self, epoch_s: int) -> str:
        """ISO-8601 with milliseconds, the only form tweepy's parser accepts."""
        day, rest = divmod(epoch_s - CREATED_FROM_S, 86_400)
        return self._days[day] + _TIMES[rest]

    def _tails_for(self, fields: frozenset[str]) -> tuple[list[JSON], JSON]:
        cached = self._projected.get(fields)
        if cached is None:
            cached = (
                [_project(t, fields) for t in self._tails],
                _project(self._owned_tail, fields),
            )
            self._projected[fields] = cached
        return cached

    def render(
        self,
        indices: list[int],
        sel: Selection,
        changed: Changed,
        relation: Callable[[int], list[str]] | None = None,
    ) -> tuple[list[JSON], list[JSON]]:
        """User objects for `indices` and the posts their expansions pull in.

        `changed` holds the (followers, following) lists that differ from the world's, by
        index; everyone else's counts come from the world.
        """
        world = self.world
        fields = sel.user_fields
        tails, owned_tail = self._tails_for(fields)
        salt, n_owned = world.salt, world.K
        base_counts = world.base_counts
        table = world.profile_table
        owned_followers_of = world.owned_followers_of
        breaks, cover, a_inv, d, shift = world.coverage_params()
        followers_changed, following_changed = changed
        first, last, prefixes = pools.FIRST_NAMES, pools.LAST_NAMES, pools.USERNAME_PREFIXES
        n_first, n_last, n_prefixes = len(first), len(last), len(prefixes)
        days, times = self._days, _TIMES
        want_created = "created_at" in fields
        want_metrics = "public_metrics" in fields
        want_vfc = "verified_followers_count" in fields
        want_counts = want_metrics or want_vfc
        want_banner = "profile_banner_url" in fields
        want_sub = "subscription" in fields
        want_conn = "connection_status" in fields and relation is not None
        post_keys = sel.post_id_keys
        users: list[JSON] = []
        posts: list[JSON] = []
        for index in indices:
            # world.hashes(), inlined: this loop runs a million times per big snapshot.
            x = ((index ^ salt) + 0x9E3779B97F4A7C15) & M64
            x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & M64
            x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & M64
            h1 = x ^ (x >> 31)
            h2 = ((h1 ^ (h1 >> 29)) * 0xBF58476D1CE4E5B9) & M64  # world.second_hash
            if index < n_owned:
                day, second = world.created_day_second(index, h1)
                name, username = world.name_of(index, h1), world.username_of(index, h1)
                tail = owned_tail
            else:
                day = (h1 & 0x1FFF) * CREATED_DAYS >> 13  # world.created_day_second
                second = ((h1 >> 13) & 0xFFFF) + ((h1 >> 29) & 0x3FFF)
                name = first[(h1 >> 40) % n_first] + " " + last[(h1 >> 48) % n_last]
                username = prefixes[(h1 >> 56) % n_prefixes] + str(index)
                tail = tails[h2 & (TAIL_POOL - 1)]
            created = CREATED_FROM_S + day * 86_400 + second
            uid = ((created * 1000 + ((h1 >> 32) & 511) - TWEPOCH_MS) << 22) | index
            # Copying the pooled part and adding to it beats building and updating a dict.
            user: JSON = tail.copy()
            user["id"] = str(uid)
            user["name"] = name
            user["username"] = username
            if want_created:
                user["created_at"] = days[day] + times[second]
            if want_counts:
                # world.base_counts(), inlined; lists that changed know their own length.
                fc, gc, tc, likes = table[(h2 >> 12) & 0xFFFF]
                if index < n_owned:
                    fc, gc = base_counts(index, h2)
                else:
                    if index in owned_followers_of:
                        fc += len(owned_followers_of[index])
                    i = bisect_right(breaks, (index - shift) * a_inv % d) - 1
                    if i >= 0:
                        gc += cover[i]
                if followers_changed:
                    edges = followers_changed.get(index)
                    if edges is not None:
                        fc = edges.count
                    edges = following_changed.get(index)
                    if edges is not None:
                        gc = edges.count
                if want_metrics:
                    user["public_metrics"] = {
                        "followers_count": fc,
                        "following_count": gc,
                        "tweet_count": tc,
                        "post_count": tc,
                        "listed_count": fc >> 6,
                        "like_count": tc * likes,
                        "media_count": tc >> 3,
                    }
                if want_vfc:
                    user["verified_followers_count"] = fc // 50
            if want_banner and (h1 >> 8) % 3:
                user["profile_banner_url"] = (
                    f"https://pbs.twimg.com/profile_banners/{uid}/{created + 86_400}"
                )
            if want_sub:
                user["subscription"] = {"subscribes_to_you": False}
            if want_conn and relation is not None:
                user["connection_status"] = relation(index)
            if post_keys:
                self._posts(user, created, h1, h2, sel, posts)
            users.append(user)
        return users, posts

    def _posts(
        self,
        user: JSON,
        created: int,
        h1: int,
        h2: int,
        sel: Selection,
        out: list[JSON],
    ) -> None:
        h3 = mix(h2 ^ 0xA5A5A5A5)
        if (h3 & 7) >= 3:  # about 3 in 8 users have a pinned post
            return
        span = max(1, TWEET_SPAN_END_S - created)
        pinned_s = created + (h3 >> 8) % span
        latest_s = pinned_s + (h3 >> 40) % max(1, TWEET_SPAN_END_S - pinned_s)
        for kind, epoch_s in (("pinned", pinned_s), ("most_recent", latest_s)):
            key = sel.post_id_keys.get(kind)
            if key is None:
                continue
            ms = epoch_s * 1000 + (h3 >> 20) % 1000
            post_id = ((ms - TWEPOCH_MS) << 22) | ((h1 ^ h3) & 0x3FFFFF)
            user[key] = str(post_id)
            if kind in sel.expand:
                out.append(self._post(user["id"], post_id, epoch_s, h3, sel))

    def _post(self, author: str, post_id: int, epoch_s: int, h: int, sel: Selection) -> JSON:
        pid = str(post_id)
        post: JSON = {"id": pid, "text": pools.TWEET_TEXTS[(h >> 12) % len(pools.TWEET_TEXTS)]}
        if not sel.new_generation:
            post["edit_history_tweet_ids"] = [pid]
        f = sel.post_fields
        if "created_at" in f:
            post["created_at"] = self.iso(epoch_s)
        if "author_id" in f:
            post["author_id"] = author
        if "conversation_id" in f:
            post["conversation_id"] = pid
        if "lang" in f:
            post["lang"] = ("en", "es", "pt", "ja", "de", "fr")[(h >> 16) % 6]
        if "possibly_sensitive" in f:
            post["possibly_sensitive"] = False
        if "reply_settings" in f:
            post["reply_settings"] = "everyone"
        if "edit_controls" in f:
            post["edit_controls"] = {
                "edits_remaining": 5,
                "is_edit_eligible": False,
                "editable_until": self.iso(epoch_s + 3600),
            }
        if "public_metrics" in f:
            likes = (h >> 24) % 500
            reposts = likes // 7
            post["public_metrics"] = {
                "retweet_count": reposts,
                "repost_count": reposts,
                "reply_count": likes // 11,
                "like_count": likes,
                "quote_count": likes // 40,
                "bookmark_count": likes // 20,
                "impression_count": likes * 37 + 11,
            }
        return post
