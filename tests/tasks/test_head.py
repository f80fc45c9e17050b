"""Where the new followers end in a newest-first page (head mode)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tasks.head import KNOWN_RUN, old_followers_start


def test_all_new_page_has_no_old_part() -> None:
    assert old_followers_start([5, 4, 3], known=set()) == 3


def test_old_part_starts_at_a_run_of_known_followers() -> None:
    ids = list(range(100))
    known = set(range(30, 100))
    assert old_followers_start(ids, known) == 30


def test_a_refollower_at_the_top_does_not_end_the_new_part() -> None:
    ids = [1, 2, 3, 4, 5, *range(100, 200)]
    known = {3, *range(100, 200)}  # 3 unfollowed and followed again between runs
    assert old_followers_start(ids, known) == 5


@given(
    new=st.lists(st.integers(0, 10**6), unique=True, max_size=300),
    refollowers=st.integers(0, KNOWN_RUN - 1),
)
def test_new_followers_are_exactly_the_unknown_before_the_old_part(
    new: list[int], refollowers: int
) -> None:
    old = list(range(10**7, 10**7 + KNOWN_RUN * 3))
    known_top = old[:refollowers]  # known users sitting among the new ones
    ids = known_top + new + old
    known = set(old)
    start = old_followers_start(ids, known)
    assert [u for u in ids[:start] if u not in known] == new
