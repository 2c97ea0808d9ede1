"""
Concurrent creations: distinct uids for distinct names, one account for one name.
"""

import os
from concurrent.futures import ThreadPoolExecutor

from tests.common.restuser_sandbox import NEEDS_UNSHARE, UID_MAX, UID_MIN

pytestmark = NEEDS_UNSHARE


# --- concurrency ---------------------------------------------------------------------------


def test_ten_concurrent_creations_get_ten_distinct_uids(hub):
    names = [f"conc{i}" for i in range(10)]
    with ThreadPoolExecutor(10) as pool:
        results = list(pool.map(hub.module.create, names))
    uids = [r["uid"] for r in results]
    assert all(r["created"] for r in results)
    assert len(set(uids)) == 10 and all(UID_MIN <= u <= UID_MAX for u in uids)
    entries = hub.entries()
    assert sorted(int(entries[n][2]) for n in names) == sorted(uids)
    assert all(os.path.isdir(os.path.join(hub.home, n)) for n in names)


def test_concurrent_creations_of_one_name_create_it_once(hub):
    with ThreadPoolExecutor(10) as pool:
        results = list(pool.map(hub.module.create, ["twin"] * 10))
    assert sum(r["created"] for r in results) == 1
    assert len({r["uid"] for r in results}) == 1
    assert [line.split(":")[0] for line in hub.read("passwd").splitlines()].count("twin") == 1
