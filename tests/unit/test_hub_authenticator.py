"""Our authenticators: system users from restuser, unsafe names refused, restuser down.

Logins go through JupyterHub's own ``get_authenticated_user`` (normalisation, allowed
users, post-auth hook); restuser is the fake of tests/common/fake_restuser.py.
"""

import asyncio

import pytest
from jupyterhub_deploy.authenticator import (
    RestuserGoogleOAuthenticator,
    RestuserSharedPasswordAuthenticator,
)
from jupyterhub_deploy.spawner import SwarmSystemUserSpawner
from oauthenticator.google import GoogleOAuthenticator, LocalGoogleOAuthenticator
from tornado import web

from tests.common.fake_restuser import FakeRestuser
from tests.common.hub_objects import LOG

PASSWORD = "workshop-password"
# What GoogleOAuthenticator keeps of Google's userinfo answer.
GOOGLE_BOB = {"email": "bob@lab.example", "domain": "lab.example", "verified_email": True}


class FakeDB:
    def __init__(self):
        self.commits = 0

    def commit(self):
        self.commits += 1


class FakeOrmSpawner:
    state = None
    server = None


class FakeHubUser:
    """What JupyterHub's User wrapper offers add_user: a name, its spawner, the db."""

    def __init__(self, name):
        self.name = name
        self.db = FakeDB()
        self.spawner = SwarmSystemUserSpawner(log=LOG)
        self.spawner.orm_spawner = FakeOrmSpawner()


def shared(sock, **config):
    config.setdefault("allowed_users", {"alice", "bob", "ada"})
    return RestuserSharedPasswordAuthenticator(
        user_password=PASSWORD, restuser_socket=str(sock), log=LOG, **config
    )


def login(authenticator, username, password=PASSWORD):
    return authenticator.get_authenticated_user(None, {"username": username, "password": password})


@pytest.fixture
def sock(tmp_path):
    return tmp_path / "restuser.sock"


def test_classes():
    assert issubclass(RestuserGoogleOAuthenticator, LocalGoogleOAuthenticator)
    google = RestuserGoogleOAuthenticator(
        log=LOG,
        authorize_url="https://idp.lab/auth",
        token_url="https://idp.lab/token",
        userdata_url="https://idp.lab/userinfo",
    )
    assert google.create_system_users is True
    assert google.authorize_url == "https://idp.lab/auth"
    assert google.restuser_socket == "/run/restuser/restuser.sock"


def test_login_creates_the_system_user(sock):
    async def go():
        async with FakeRestuser(sock) as fake:
            auth_model = await login(shared(sock), "alice")
            return auth_model, fake

    auth_model, fake = asyncio.run(go())
    assert auth_model["name"] == "alice"
    assert auth_model["auth_state"]["system_account"]["uid"] == 10000
    assert fake.created == ["alice"]


def test_login_refuses_an_unsafe_name_and_creates_nothing(sock):
    async def go():
        async with FakeRestuser(sock) as fake:
            auth = shared(sock, allowed_users={"john.smith"})
            try:
                await login(auth, "John.Smith")
            finally:
                assert fake.requests == []

    with pytest.raises(web.HTTPError) as info:
        asyncio.run(go())
    assert info.value.status_code == 403
    assert "'john.smith' cannot be used as an account name" in info.value.log_message


def test_google_login_refuses_an_unsafe_name(monkeypatch, sock):
    async def fake_google(self, handler, data=None):
        return {"name": "jane.doe", "auth_state": {"google_user": {"email": "jane.doe@x"}}}

    monkeypatch.setattr(GoogleOAuthenticator, "authenticate", fake_google)
    google = RestuserGoogleOAuthenticator(
        restuser_socket=str(sock), client_id="x", client_secret="y", allow_all=True, log=LOG
    )
    with pytest.raises(web.HTTPError) as info:
        asyncio.run(google.get_authenticated_user(None, None))
    assert info.value.status_code == 403


def test_google_login_creates_the_system_user(monkeypatch, sock):
    async def fake_google(self, handler, data=None):
        return {"name": "bob", "auth_state": {"access_token": "t", "google_user": GOOGLE_BOB}}

    monkeypatch.setattr(GoogleOAuthenticator, "authenticate", fake_google)

    async def go():
        async with FakeRestuser(sock) as fake:
            google = RestuserGoogleOAuthenticator(
                restuser_socket=str(sock),
                client_id="x",
                client_secret="y",
                allowed_users={"bob"},
                log=LOG,
            )
            return await google.get_authenticated_user(None, None), fake

    auth_model, fake = asyncio.run(go())
    assert auth_model["auth_state"]["access_token"] == "t"
    assert auth_model["auth_state"]["system_account"]["name"] == "bob"
    assert fake.created == ["bob"]


def test_restuser_down_fails_the_login_clearly(sock):
    with pytest.raises(web.HTTPError) as info:
        asyncio.run(login(shared(sock), "alice"))
    assert info.value.status_code == 503
    assert "restuser" in info.value.log_message
    assert "Nothing was created" in info.value.log_message


def test_restuser_refusal_is_shown(sock):
    async def go():
        async with FakeRestuser(sock, status=(409, {"error": "a home directory exists"})):
            await login(shared(sock), "alice")

    with pytest.raises(web.HTTPError) as info:
        asyncio.run(go())
    assert info.value.status_code == 403
    assert "a home directory exists" in info.value.log_message


def test_not_allowed_users_never_reach_restuser(sock):
    async def go():
        async with FakeRestuser(sock) as fake:
            result = await login(shared(sock), "mallory")
            return result, fake

    result, fake = asyncio.run(go())
    assert result is None
    assert fake.requests == []


def test_wrong_password_never_reaches_restuser(sock):
    async def go():
        async with FakeRestuser(sock) as fake:
            result = await login(shared(sock), "alice", password="wrong-password")
            return result, fake

    result, fake = asyncio.run(go())
    assert result is None
    assert fake.requests == []


def test_add_user_creates_and_hands_the_uid_to_the_spawner(sock):
    user = FakeHubUser("bob")

    async def go():
        async with FakeRestuser(sock) as fake:
            await shared(sock).add_user(user)
            return fake

    fake = asyncio.run(go())
    assert fake.requests == [("GET", "/users/bob"), ("POST", "/users/bob")]
    assert (user.spawner.user_id, user.spawner.group_id) == (10000, 10000)
    assert user.spawner.orm_spawner.state == {"user_id": 10000, "group_id": 10000}
    assert user.db.commits == 1


def test_existing_system_user_is_not_created_again(sock):
    user = FakeHubUser("alice")
    account = {"name": "alice", "uid": 10007, "gid": 10007, "home": "/home/alice"}

    async def go():
        async with FakeRestuser(sock, {"alice": account}) as fake:
            await shared(sock).add_user(user)
            return fake

    fake = asyncio.run(go())
    assert fake.created == []
    assert user.spawner.user_id == 10007


def test_staff_never_reach_restuser(sock):
    auth = shared(sock, fixed_accounts={"ada": {"uid": 2001, "gid": 2001}})
    auth.admin_users = {"ada"}
    auth.admin_password = "a" * 32
    user = FakeHubUser("ada")
    asyncio.run(auth.add_user(user))
    model = asyncio.run(login(auth, "ada", password="a" * 32))
    assert model["admin"] is True
    assert model["auth_state"]["system_account"]["uid"] == 2001
    assert not sock.exists()


def test_add_user_at_startup_with_a_bare_orm_user(sock):
    from jupyterhub import orm

    async def go():
        async with FakeRestuser(sock) as fake:
            await shared(sock).add_user(orm.User(name="carol"))
            return fake

    fake = asyncio.run(go())
    assert fake.created == ["carol"]
