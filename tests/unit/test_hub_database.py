"""
jupyterhub_deploy.database, which salt runs in the new hub image before an upgrade: the
schema revision of a real sqlite database made by JupyterHub's own ORM, against the
migrations of the installed JupyterHub, and a real alembic migration back to head.
"""

import json
import sqlite3

import pytest
from jupyterhub import orm
from jupyterhub_deploy import database

from tests.common.hub_database import REVISION_OF_5_5, downgrade


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "jupyterhub.sqlite"
    session = orm.new_session_factory(f"sqlite:///{path}")()
    session.add(orm.User(name="alice"))
    session.commit()
    session.close()
    return path


def test_a_database_at_head_needs_nothing(db):
    found = database.info(str(db))
    assert found["current"] == found["head"]
    assert found["known"] is True
    assert found["jupyterhub"] == __import__("jupyterhub").__version__


def test_a_new_hub_has_no_database_yet(tmp_path):
    found = database.info(str(tmp_path / "jupyterhub.sqlite"))
    assert found["current"] is None and found["known"] is True


def test_a_database_of_a_later_jupyterhub_is_unknown(db):
    conn = sqlite3.connect(db)
    conn.execute("UPDATE alembic_version SET version_num = 'abcdef123456'")
    conn.commit()
    conn.close()
    found = database.info(str(db))
    assert found["current"] == "abcdef123456" and found["known"] is False


def test_upgrade_migrates_an_older_schema_to_head_and_keeps_the_rows(db, capsys, tmp_path):
    downgrade(db, REVISION_OF_5_5, tmp_path)
    older = database.info(str(db))
    assert older["current"] == REVISION_OF_5_5 and older["known"] is True
    columns = [row[1] for row in sqlite3.connect(db).execute("PRAGMA table_info(spawners)")]
    assert "display_name" not in columns

    assert database.main(["upgrade", str(db)]) == 0
    after = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert after["current"] == after["head"] == older["head"]
    columns = [row[1] for row in sqlite3.connect(db).execute("PRAGMA table_info(spawners)")]
    assert "display_name" in columns
    assert sqlite3.connect(db).execute("SELECT name FROM users").fetchall() == [("alice",)]
