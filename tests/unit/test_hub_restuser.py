"""The hub's restuser client (jupyterhub_deploy.restuser), against a fake restuser
(tests/common/fake_restuser.py, which the spawner and authenticator tests use too)."""

import asyncio

import pytest
from jupyterhub_deploy import restuser

from tests.common.fake_restuser import FakeRestuser


def run(coro):
    return asyncio.run(coro)


@pytest.fixture
def sock(tmp_path):
    return tmp_path / "restuser.sock"


def test_get_and_create(sock):
    async def go():
        async with FakeRestuser(sock) as fake:
            client = restuser.RestuserClient(str(sock))
            assert await client.get_user("alice") is None
            created = await client.create_user("alice")
            again = await client.create_user("alice")
            looked_up = await client.get_user("alice")
            return fake, created, again, looked_up

    fake, created, again, looked_up = run(go())
    assert created == {"name": "alice", "uid": 10000, "gid": 10000, "home": "/home/alice"}
    assert again == created == looked_up
    assert fake.requests == [
        ("GET", "/users/alice"),
        ("POST", "/users/alice"),
        ("POST", "/users/alice"),
        ("GET", "/users/alice"),
    ]


def test_refusal_carries_the_reason(sock):
    async def go():
        async with FakeRestuser(sock, status=(507, {"error": "no free uid left"})):
            await restuser.RestuserClient(str(sock)).create_user("bob")

    with pytest.raises(restuser.RestuserError) as info:
        run(go())
    assert info.value.status == 507
    assert info.value.reason == "no free uid left"


def test_missing_socket_is_unavailable(sock):
    with pytest.raises(restuser.RestuserUnavailable, match="cannot reach restuser"):
        run(restuser.RestuserClient(str(sock)).get_user("alice"))


def test_silent_server_times_out(sock):
    async def go():
        async def hang(reader, writer):
            # Never answer; return once the client gives up and closes.
            await reader.read()
            writer.close()

        server = await asyncio.start_unix_server(hang, path=str(sock))
        try:
            await restuser.RestuserClient(str(sock), timeout=0.2).get_user("alice")
        finally:
            server.close()

    with pytest.raises(restuser.RestuserUnavailable, match="did not answer"):
        run(go())


def test_answer_for_another_name_is_rejected(sock):
    async def go():
        body = {"name": "mallory", "uid": 10001, "gid": 10001}
        async with FakeRestuser(sock, status=(200, body)):
            await restuser.RestuserClient(str(sock)).get_user("alice")

    with pytest.raises(restuser.RestuserError, match="got 'mallory'"):
        run(go())


@pytest.mark.parametrize(
    "raw, expected",
    [
        (b'HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n{"a": 1}\n', (200, {"a": 1})),
        (
            b'HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n8\r\n{"a": 2}\r\n0\r\n\r\n',
            (201, {"a": 2}),
        ),
        (b"HTTP/1.0 404 Not Found\r\n\r\n", (404, None)),
        (b"HTTP/1.1 500 Oops\r\n\r\nnot json", (500, None)),
    ],
)
def test_parse_response(raw, expected):
    assert restuser.parse_response(raw) == expected


def test_garbage_is_unavailable():
    with pytest.raises(restuser.RestuserUnavailable):
        restuser.parse_response(b"SSH-2.0-OpenSSH\r\n")


@pytest.mark.parametrize(
    "name, safe",
    [
        ("alice", True),
        ("_svc", True),
        ("a-b_c9", True),
        ("John.Smith", False),
        ("john.smith", False),
        ("9lives", False),
        ("root", False),
        ("jupyterhub", False),
        ("x" * 33, False),
        ("", False),
    ],
)
def test_safe_names(name, safe):
    assert restuser.is_safe_name(name, {"root", "jupyterhub"}) is safe
