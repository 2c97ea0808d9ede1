"""
Creating students: the lowest free uid, idempotence, the home from the skeleton, get
and list.
"""

import filecmp
import os
import stat

from tests.common.restuser_sandbox import NEEDS_UNSHARE, UID_MAX, UID_MIN

pytestmark = NEEDS_UNSHARE


# --- creating ------------------------------------------------------------------------------


def test_create_makes_the_account_with_the_lowest_free_uid(hub):
    expected_uid = hub.lowest_free_uid()
    created = hub.module.create("alice")
    assert created == {
        "name": "alice",
        "uid": expected_uid,
        "gid": expected_uid,
        "home": "/home/alice",
        "created": True,
    }
    assert UID_MIN <= created["uid"] <= UID_MAX
    entry = hub.entries()["alice"]
    assert entry[2:4] == [str(expected_uid)] * 2
    assert entry[5:] == ["/home/alice", "/usr/sbin/nologin"]
    assert hub.entries("group")["alice"][2] == str(expected_uid)
    assert hub.entries("shadow")["alice"][1].startswith("!")  # no password: no ssh login
    assert "alice" not in hub.read("subuid")


def test_the_uid_skips_taken_ones(hub):
    # oldie holds uid_min + 1: the two new students get uid_min (or later) and skip it.
    uids = [hub.module.create(name)["uid"] for name in ("skip1", "skip2")]
    assert UID_MIN + 1 not in uids
    assert uids[1] > uids[0]


def test_create_is_idempotent(hub):
    first = hub.module.create("bob")
    before = hub.snapshot()
    again = hub.module.create("bob")
    assert again == dict(first, created=False)
    assert hub.snapshot() == before
    assert hub.module.get("bob") == {k: first[k] for k in ("name", "uid", "gid", "home")}


def test_an_existing_student_is_returned_as_is(hub):
    assert hub.module.create("oldie") == {
        "name": "oldie",
        "uid": UID_MIN + 1,
        "gid": UID_MIN + 1,
        "home": "/home/oldie",
        "created": False,
    }


def test_the_home_is_the_skeleton_owned_by_the_student(hub):
    account = hub.module.create("carol")
    home = os.path.join(hub.home, "carol")
    info = os.lstat(home)
    assert stat.S_ISDIR(info.st_mode) and stat.S_IMODE(info.st_mode) == 0o700
    assert (info.st_uid, info.st_gid) == (account["uid"], account["gid"])
    compare = filecmp.dircmp(hub.skel, home)
    assert (
        sorted(compare.left_list)
        == sorted(compare.right_list)
        == [".bashrc", ".config", "README.md"]
    )
    assert compare.diff_files == [] and filecmp.dircmp(
        os.path.join(hub.skel, ".config"), os.path.join(home, ".config")
    ).same_files == ["settings.json"]
    for root, dirs, files in os.walk(home):
        for entry in dirs + files:
            owner = os.lstat(os.path.join(root, entry))
            assert (owner.st_uid, owner.st_gid) == (account["uid"], account["gid"])


def test_get_and_list(hub):
    hub.module.create("dave")
    assert hub.module.get("dave")["home"] == "/home/dave"
    assert hub.module.get("nosuchstudent") is None
    students = hub.module.list_users()
    names = [s["name"] for s in students]
    assert "dave" in names and "oldie" in names
    assert "ada" not in names and "root" not in names
    assert all(UID_MIN <= s["uid"] <= UID_MAX for s in students)
    assert [s["uid"] for s in students] == sorted(s["uid"] for s in students)
