"""
Failures with clear answers: an exhausted uid range (507) and a failed useradd (500,
rolled back).
"""

from tests.common.restuser_sandbox import NEEDS_UNSHARE, refused

pytestmark = NEEDS_UNSHARE


# --- failures ------------------------------------------------------------------------------


def test_an_exhausted_uid_range_is_a_clear_507(make_sandbox):
    # uids 20000-20002, of which oldie holds 20001.
    small = make_sandbox(uid_min=20000, uid_max=20002)
    assert [small.module.create(n)["uid"] for n in ("one", "two")] == [20000, 20002]
    before = small.snapshot()
    message = refused(small.module.create, "three")
    assert "(507)" in message and "no free uid left in 20000-20002" in message
    assert small.snapshot() == before
    assert small.module.create("one")["created"] is False  # existing students still work


def test_a_failed_useradd_is_500_with_its_stderr_and_rolled_back(make_sandbox):
    # /home is read-only: useradd writes the account, then cannot create the home.
    broken = make_sandbox(ro_home=True)
    before = broken.snapshot()
    message = refused(broken.module.create, "henry")
    assert "(500)" in message
    assert "useradd exited with 12: useradd: cannot create directory /home/henry" in message
    assert message.endswith("rolled back: user henry")  # userdel took the group with it
    assert broken.snapshot() == before  # passwd, group, shadow, gshadow, /home as they were
    assert broken.module.get("henry") is None
