"""
The hub database's schema against this image's JupyterHub, for salt's controlled upgrade
(_modules/jupyterhub_db.py), which runs it in a throwaway container of the new image:

``python3 -m jupyterhub_deploy.database info DB``
    One JSON line: ``jupyterhub`` (this image's version), ``head`` (the schema revision it
    needs), ``current`` (the database's, null for a new database) and ``known`` (whether
    this JupyterHub's migrations lead from ``current`` to ``head``: false for a database a
    later JupyterHub wrote).
``python3 -m jupyterhub_deploy.database upgrade DB``
    Migrates DB to ``head`` (alembic, as ``jupyterhub upgrade-db`` does, without its own
    timestamped copy: salt has made one with the version in its name).
"""

import argparse
import json
import os
import sqlite3
import sys
import tempfile

import jupyterhub
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from jupyterhub import dbutil


def _scripts():
    return ScriptDirectory(dbutil.ALEMBIC_DIR)


def current_revision(db):
    """The schema revision recorded in sqlite file ``db``, or None (new, or no schema yet)."""
    if not os.path.exists(db):
        return None
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = conn.execute(
            "SELECT name FROM sqlite_master WHERE type='table' AND name='alembic_version'"
        ).fetchall()
        if not rows:
            return None
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        return row[0] if row else None
    finally:
        conn.close()


def info(db):
    scripts = _scripts()
    current = current_revision(db)
    known = current is None or _known(scripts, current)
    return {
        "jupyterhub": jupyterhub.__version__,
        "head": scripts.get_current_head(),
        "current": current,
        "known": known,
    }


def _known(scripts, revision):
    try:
        return scripts.get_revision(revision) is not None
    except Exception:  # alembic raises its own errors for an unknown revision
        return False


def upgrade(db):
    """Migrate sqlite file ``db`` to head, in this process (dbutil.upgrade needs `alembic`
    on PATH)."""
    with tempfile.TemporaryDirectory() as tmp:
        ini = os.path.join(tmp, "alembic.ini")
        dbutil.write_alembic_ini(ini, f"sqlite:///{os.path.abspath(db)}")
        command.upgrade(Config(ini), "head")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["info", "upgrade"])
    parser.add_argument("db", help="the hub's sqlite file")
    args = parser.parse_args(argv)
    if args.command == "info":
        print(json.dumps(info(args.db)))
        return 0
    upgrade(args.db)
    print(json.dumps(info(args.db)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
