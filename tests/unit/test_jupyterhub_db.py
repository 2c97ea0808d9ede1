"""
_modules/jupyterhub_db.py and its state: the hub database across a JupyterHub upgrade.

Docker is a small fake of the SDK's containers; its throwaway "new image" runs the real
jupyterhub_deploy.database of the dev venv (JupyterHub 6.1.1) on a real sqlite file made
by JupyterHub's ORM and moved back to 5.5's schema by JupyterHub's own migrations. The
real images and engine are exercised by the lab's upgrade test (tests/e2e/test_single_host.py).
"""

import contextlib
import io
import json
import os
import sqlite3
import stat

import docker.errors
import pytest
from jupyterhub import orm
from jupyterhub_deploy import database
from salt.exceptions import CommandExecutionError

from tests.common.hub_database import REVISION_OF_5_5, downgrade
from tests.common.loaders import load

NEW, OLD = "registry:5000/hub:latest", "sha256:" + "a" * 64

module = load("_modules/jupyterhub_db.py")


class FakeHub:
    def __init__(self, events, image_id, status="running"):
        self.events, self.status = events, status
        self.image = type("Image", (), {"id": image_id})()

    def stop(self, timeout):
        self.events.append("stop")
        self.status = "exited"

    def start(self):
        self.events.append("start")
        self.status = "running"


class FakeClient:
    """The hub container (or none), the new image's id, and throwaway runs: the new image
    runs the real database module with the mount mapped to the test's directory; a run of
    the old image answers its JupyterHub version."""

    def __init__(self, hub=None, new_id="sha256:" + "b" * 64, fail_upgrade=None):
        self.events = []
        self.hub = hub(self.events) if hub else None
        self.new_id, self.fail_upgrade = new_id, fail_upgrade
        self.containers, self.images = self, self

    def get(self, name):
        if name == NEW:
            if self.new_id is None:
                raise docker.errors.ImageNotFound(name)
            return type("Image", (), {"id": self.new_id})()
        if name == "jupyterhub" and self.hub:
            return self.hub
        raise docker.errors.NotFound(name)

    def run(self, image, command, entrypoint, volumes, network_mode, **_):
        assert entrypoint == ["python3"] and network_mode == "none"
        if command[0] == "-c":
            assert image == OLD
            return b"5.5.4\n"
        assert image == NEW
        (host_dir,) = volumes
        args = [a.replace(module.MOUNT, host_dir) for a in command[2:]]
        self.events.append(args[0])
        if args[0] == "upgrade" and self.fail_upgrade:
            self.fail_upgrade(args[1])
            raise docker.errors.ContainerError(
                "c", 1, command, image, b"sqlite3.OperationalError: duplicate column name: timeout"
            )
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            database.main(args)
        return out.getvalue().encode()


@pytest.fixture
def db(tmp_path):
    """A hub database with a user, at JupyterHub 5.5's schema (as a 5.5 hub left it)."""
    path = tmp_path / "data" / "jupyterhub.sqlite"
    path.parent.mkdir()
    session = orm.new_session_factory(f"sqlite:///{path}")()
    session.add(orm.User(name="alice"))
    session.commit()
    session.close()
    downgrade(path, REVISION_OF_5_5, tmp_path)
    return path


def revision(path):
    return sqlite3.connect(path).execute("SELECT version_num FROM alembic_version").fetchone()[0]


def use(monkeypatch, client):
    monkeypatch.setattr(module, "_client", lambda: client)
    return client


def old_hub(events):
    return FakeHub(events, OLD)


def test_an_older_schema_is_copied_aside_with_the_old_version_then_migrated(db, monkeypatch):
    client = use(monkeypatch, FakeClient(hub=old_hub))
    result = module.upgrade(str(db), NEW)
    assert client.events == ["info", "stop", "upgrade"]
    head = result["new"]["head"]
    assert revision(db) == head != REVISION_OF_5_5
    copy = result["copy"]
    assert os.path.basename(copy).startswith("jupyterhub.sqlite.5.5.4.")
    assert revision(copy) == REVISION_OF_5_5
    assert stat.S_IMODE(os.stat(copy).st_mode) == 0o600
    assert sqlite3.connect(db).execute("SELECT name FROM users").fetchall() == [("alice",)]
    # The hub stays stopped: the state recreates it from the new image next.
    assert client.hub.status == "exited"


def test_a_hub_running_the_image_needs_one_throwaway_container_ever(db, monkeypatch):
    """Only to remember the image's schema, for a hub container made again later."""
    client = use(monkeypatch, FakeClient(hub=lambda e: FakeHub(e, "sha256:" + "b" * 64)))
    assert module.plan(str(db), NEW)["action"] == "none"
    assert module.plan(str(db), NEW)["action"] == "none"
    assert client.events == ["info"]


def test_a_database_at_the_image_s_schema_is_left_alone_and_asked_once(db, monkeypatch):
    """The image's schema is remembered by image id: the hub's container removed and made
    again (no hub running the image) costs no throwaway container the second time."""
    client = use(monkeypatch, FakeClient(hub=old_hub))
    module.upgrade(str(db), NEW)
    client.events.clear()
    found = module.upgrade(str(db), NEW)
    assert found["action"] == "none" and "is the one JupyterHub" in found["comment"]
    assert client.events == []
    remembered = db.parent / module.REMEMBERED
    assert stat.S_IMODE(os.stat(remembered).st_mode) == 0o600
    # A database put back from a copy (an older schema) is asked about again.
    downgraded = FakeClient(hub=old_hub)
    use(monkeypatch, downgraded)
    conn = sqlite3.connect(db)
    conn.execute(f"UPDATE alembic_version SET version_num = '{REVISION_OF_5_5}'")
    conn.commit()
    conn.close()
    assert module.plan(str(db), NEW)["action"] == "upgrade"
    assert downgraded.events == ["info"]


def test_a_new_hub_without_a_database_needs_nothing(tmp_path, monkeypatch):
    use(monkeypatch, FakeClient())
    (tmp_path / "data").mkdir()
    found = module.upgrade(str(tmp_path / "data" / "jupyterhub.sqlite"), NEW)
    assert found["action"] == "none" and "no database yet" in found["comment"]


def test_a_failed_migration_puts_the_database_back_and_the_old_hub_up(db, monkeypatch):
    before = sqlite3.connect(db).execute("SELECT * FROM users").fetchall()

    def half_migrate(path):  # the first migration's change made, then the failure
        conn = sqlite3.connect(path)
        conn.execute("ALTER TABLE services ADD COLUMN timeout INTEGER")
        conn.execute("UPDATE alembic_version SET version_num = 'be8ecf03ddac'")
        conn.commit()
        conn.close()

    client = use(monkeypatch, FakeClient(hub=old_hub, fail_upgrade=half_migrate))
    with pytest.raises(CommandExecutionError) as failed:
        module.upgrade(str(db), NEW)
    message = str(failed.value)
    assert "duplicate column name: timeout" in message
    assert "hub:jupyterhub_version back to 5.5.4" in message
    assert f"{db}.5.5.4." in message
    assert client.events[-2:] == ["upgrade", "start"] and client.hub.status == "running"
    assert revision(db) == REVISION_OF_5_5
    columns = [r[1] for r in sqlite3.connect(db).execute("PRAGMA table_info(services)")]
    assert "timeout" not in columns
    assert sqlite3.connect(db).execute("SELECT * FROM users").fetchall() == before


def test_a_database_from_a_later_jupyterhub_is_refused_before_anything_stops(db, monkeypatch):
    conn = sqlite3.connect(db)
    conn.execute("UPDATE alembic_version SET version_num = 'abcdef123456'")
    conn.commit()
    conn.close()
    (db.parent / "jupyterhub.sqlite.6.1.1.20261207T190000Z").write_text("")
    client = use(monkeypatch, FakeClient(hub=old_hub))
    with pytest.raises(CommandExecutionError) as refused:
        module.upgrade(str(db), NEW)
    assert "abcdef123456" in str(refused.value) and "Nothing was changed" in str(refused.value)
    assert "jupyterhub.sqlite.6.1.1.20261207T190000Z" in str(refused.value)
    assert "stop" not in client.events and client.hub.status == "running"


@pytest.fixture
def state(monkeypatch):
    opts = {"test": False}
    salt = {"jupyterhub_db.plan": module.plan, "jupyterhub_db.upgrade": module.upgrade}
    return load("_states/jupyterhub_db.py", {"__salt__": salt, "__opts__": opts})


def test_the_state_in_test_mode_says_what_it_would_do_and_does_nothing(db, monkeypatch, state):
    client = use(monkeypatch, FakeClient(hub=old_hub))
    state.__opts__["test"] = True
    ret = state.migrated(str(db), NEW)
    assert ret["result"] is None and "would stop the hub" in ret["comment"]
    assert ret["changes"]["jupyterhub"] == {
        "old": "5.5.4",
        "new": database.info(str(db))["jupyterhub"],
    }
    assert "stop" not in client.events and revision(db) == REVISION_OF_5_5


def test_the_state_migrates_then_changes_nothing(db, monkeypatch, state):
    use(monkeypatch, FakeClient(hub=old_hub))
    ret = state.migrated(str(db), NEW)
    assert ret["result"] is True and ret["changes"]["schema"]["old"] == REVISION_OF_5_5
    assert json.dumps(ret)  # salt serialises it
    again = state.migrated(str(db), NEW)
    assert again["result"] is True and again["changes"] == {}


def test_the_state_fails_with_the_module_s_words(db, monkeypatch, state):
    conn = sqlite3.connect(db)
    conn.execute("UPDATE alembic_version SET version_num = 'abcdef123456'")
    conn.commit()
    use(monkeypatch, FakeClient(hub=old_hub))
    ret = state.migrated(str(db), NEW)
    assert ret["result"] is False and "does not know" in ret["comment"]


def test_a_new_hub_in_test_mode_has_no_image_yet_and_that_is_no_failure(db, monkeypatch, state):
    client = use(monkeypatch, FakeClient(new_id=None))
    state.__opts__["test"] = True
    ret = state.migrated(str(db), NEW)
    assert ret["result"] is None and ret["comment"].startswith(f"no image {NEW}")
    assert client.events == []
    state.__opts__["test"] = False
    assert state.migrated(str(db), NEW)["result"] is False
