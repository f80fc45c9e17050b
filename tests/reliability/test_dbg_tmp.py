import random, sys

sys.path.insert(0, ".")
from tests.reliability import test_crash_snapshots as t
from tests.reliability.conftest import query
import tests.reliability.conftest as c


def test_dbg(world_factory):
    world = world_factory(limits=False)
    try:
        segs = t.crash_snapshots(world, "ff_team9", kills=3, seed=7, page_size=250)
    finally:
        pages = t.follower_pages(world, world.account_id("ff_team9"))
        print(t.refetches(pages), len(pages))
        print(query(world.db_path, "select snapshot_id,status,mode,pages,error from snapshots"))
    print(segs)
