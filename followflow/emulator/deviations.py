"""Where X's OpenAPI spec and X's real behaviour disagree, and the emulator follows X.

One entry a disagreement, each with its evidence (a recorded body in shared/xapi/fixtures
or a source key of shared/xapi/REFERENCE.md). The generated-request test
(tests/emulator/test_generated.py) excuses a case only by one of these names; the README's
emulator section lists the same entries (tests/emulator/test_refusals.py keeps the two in
step). Choices made where X's answer is unknown are not here: they are marked "chosen"
where they are made (problems.py, fields.py, endpoints.py, auth.py).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Deviation:
    name: str
    spec: str  # what the spec says
    x: str  # what X does, and so the emulator
    evidence: str


DEVIATIONS = (
    Deviation(
        "problem-type-host",
        "the 2.167 spec maps problem types to `https://api.x.com/2/problems/...`",
        "every recorded body, 2021 to Aug 2025, uses `https://api.twitter.com/2/problems/...`:"
        " preset v2-2023 sends that host on every body, v2-2026 the spec's",
        "fixtures/observed-errors.json (invalid-request, resource-not-found,"
        " unsupported-authentication); REFERENCE §2.2, §8.2",
    ),
    Deviation(
        "fields-of-both-generations",
        "each spec's enums hold one generation's names: 2.159 `tweet.fields`,"
        " `pinned_tweet_id`; 2.167 `post.fields`, `pinned_post_id`",
        "tweepy and twarc send `tweet.fields` and `pinned_tweet_id`, the official SDK"
        " `post.fields` and `pinned_post_id`, the 2026 changelog still names `tweet.fields`:"
        " both generations' names are accepted on every preset",
        "REFERENCE §1.1, §7.1, §8.1 (TWEEPY, TWARC, XDK, DOCS changelog.mdx)",
    ),
    Deviation(
        "problem-as-application-json",
        "a Problem body is `application/problem+json`; `application/json` is the `Error`"
        " shape `{code, message}`",
        "400 Invalid Request and 429 Too Many Requests come as"
        " `application/json; charset=utf-8` with the Problem shape",
        "REFERENCE §2.2 (NTA#389, ISS twitter-stream-api#23); fixtures/observed-errors.json",
    ),
)
BY_NAME = {deviation.name: deviation for deviation in DEVIATIONS}
