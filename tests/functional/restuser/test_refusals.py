"""
What restuser refuses, leaving every account file and /home as it was: accounts outside
the student range, names held by a group, homes it must not adopt, unsafe names and paths,
bad requests; and the one orphaned home it does adopt.
"""

import os

import pytest

from tests.common.restuser_sandbox import NEEDS_UNSHARE, UID_MAX, UID_MIN, refused

pytestmark = NEEDS_UNSHARE


# --- refusals ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("root", "reserved name"),
        ("daemon", "reserved name"),
        ("ada", "outside the student uid range"),  # staff, uid 2001
        ("bin", "reserved name"),
        ("postgres", "outside the student uid range"),  # a service account of this machine
        ("docker", "reserved name"),  # reserved even before such an account exists
        ("staff", "reserved name"),  # a Debian group: the student would join it
    ],
)
def test_accounts_outside_the_range_are_403_and_untouched(hub, name, reason):
    if name == "postgres" and "postgres" not in hub.entries():
        pytest.skip("no postgres account on this machine")
    before = hub.snapshot()
    for func in (hub.module.create, hub.module.get):
        message = refused(func, name)
        assert "(403)" in message and reason in message
    assert hub.snapshot() == before


def test_a_name_held_by_a_group_is_403(hub):
    before = hub.snapshot()
    message = refused(hub.module.create, "course")
    assert "(403)" in message and "group named 'course'" in message
    assert hub.snapshot() == before


def test_an_existing_home_without_account_is_409_and_not_adopted(hub):
    before = hub.snapshot()
    message = refused(hub.module.create, "ghost")
    assert "(409)" in message and "/home/ghost already exists" in message
    assert "owned by uid 0, outside the student range" in message
    assert hub.snapshot() == before


def test_a_home_owned_by_another_accounts_uid_is_409(hub):
    before = hub.snapshot()
    message = refused(hub.module.create, "squatter")
    assert "(409)" in message and f"uid {UID_MIN + 1}, which another account holds" in message
    assert hub.snapshot() == before


def test_a_home_that_outlived_its_account_is_adopted_with_its_uid(hub):
    """A rebuilt hub over the old /home: the student gets their uid and files back."""
    user = hub.module.create("orphan")
    assert user["uid"] == UID_MIN + 50 and user["home"].endswith("/home/orphan")
    home = os.path.join(hub.home, "orphan")
    with open(os.path.join(home, "thesis.ipynb")) as handle:
        assert handle.read() == "my work\n"
    assert not os.path.exists(os.path.join(home, "README.md"))  # no skeleton over their files
    assert os.stat(home).st_uid == UID_MIN + 50
    again = hub.module.create("orphan")
    assert again["uid"] == user["uid"] and again["created"] is False


@pytest.mark.parametrize(
    "name", ["Bob", "a;b", "../x", "%2e%2e", "a" * 33, "", "a\nb", "a/b", "-rf", "a b", "é"]
)
def test_unsafe_names_are_400_and_create_nothing(hub, name):
    before = hub.snapshot()
    message = refused(hub.module.create, name)
    assert "(400)" in message and "invalid user name" in message
    assert hub.snapshot() == before


@pytest.mark.parametrize(
    "target",
    [
        b"/users/../x",
        b"/users/..%2fx",
        b"/users/%2e%2e",
        b"/users/%2e%2e%2f%2e%2e%2fetc",
        b"/users/a;b",
        b"/users/a%3bid",
        b"/users/a%0Ab",
        b"/users/a%0D%0AX-Injected:%201",
        b"/users/a%00",
        b"/users/$(id)",
        b"/users/a%60id%60",
        b"/users/",
        b"/users/" + b"a" * 33,
    ],
)
def test_raw_unsafe_paths_are_400_and_create_nothing(hub, target):
    before = hub.snapshot()
    status, body = hub.raw(b"POST " + target + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status == 400, body
    assert hub.snapshot() == before


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"POST /users/erin HTTP/1.1\r\nContent-Length: 4096\r\n\r\n" + b"{" * 4096, 413),
        (b"POST /users/erin HTTP/1.1\r\nContent-Length: 5\r\n\r\n{nope", 400),
        (b"POST /users/erin HTTP/1.1\r\nContent-Length: 2\r\n\r\n[]", 400),
        (b"POST /users/erin HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 411),
        (b"POST /users/erin\r\n\r\n", 400),
        (b"POST /users/erin HTTP/1.1\r\nBroken header\r\n\r\n", 400),
        (b"POST /users/" + b"e" * 4000 + b" HTTP/1.1\r\n\r\n", 414),
        (b"POST /users/erin HTTP/1.1\r\nX: " + b"a" * 3000 + b"\r\n\r\n", 431),
        (b"DELETE /users/erin HTTP/1.1\r\n\r\n", 405),
        (b"GET /etc/passwd HTTP/1.1\r\n\r\n", 404),
        (b"GET /users/erin?x=1 HTTP/1.1\r\n\r\n", 400),
    ],
)
def test_bad_requests_are_refused_and_create_nothing(hub, request_bytes, status):
    before = hub.snapshot()
    got, body = hub.raw(request_bytes)
    assert got == status and body["error"], body
    assert hub.snapshot() == before
    assert hub.module.get("erin") is None


def test_a_json_object_body_is_ignored(hub):
    body = b'{"uid": 0, "shell": "/bin/sh", "home": "/root"}'
    status, answer = hub.raw(
        b"POST /users/frank HTTP/1.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
    )
    assert status == 201
    assert UID_MIN <= answer["uid"] <= UID_MAX and answer["home"] == "/home/frank"
    assert hub.entries()["frank"][6] == "/usr/sbin/nologin"
