"""
stats.record and stats.report on a real sqlite file: polls with a stand-in for
``jupyterhub.list_users``, read back by the report, by sqlite3 the way the original class's
analyses read it, and plotted to a real PNG with matplotlib.
"""

import datetime
import os
import sqlite3
import stat
import struct

import pytest
from salt.exceptions import CommandExecutionError

from tests.common.loaders import load

INTERVAL = 600
# The original's own statement, whitespace and all (log_activity's init_db).
ORIGINAL_CREATE = """CREATE TABLE IF NOT EXISTS activity (
                date timestamp,
                user text,
                active bool)
                """


def table_info(conn):
    return conn.execute("PRAGMA table_info(activity)").fetchall()


def original_columns():
    """PRAGMA table_info of a table made by the original's statement, as this sqlite sees it
    (recent sqlite spells the type ``text`` as ``TEXT``)."""
    conn = sqlite3.connect(":memory:")
    try:
        conn.execute(ORIGINAL_CREATE)
        return table_info(conn)
    finally:
        conn.close()


def test_the_original_schema_is_date_user_active():
    columns = [
        (cid, name, kind.lower(), notnull, default, pk)
        for cid, name, kind, notnull, default, pk in original_columns()
    ]
    assert columns == [
        (0, "date", "timestamp", 0, None, 0),
        (1, "user", "text", 0, None, 0),
        (2, "active", "bool", 0, None, 0),
    ]


def model(name, running, minutes_ago, now):
    """A JupyterHub 5 user model whose last activity was ``minutes_ago`` before ``now``."""
    last = None
    if minutes_ago is not None:
        last = (now - datetime.timedelta(minutes=minutes_ago)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    servers = {}
    if running:
        servers[""] = {
            "name": "",
            "ready": True,
            "pending": None,
            "last_activity": last,
            "url": f"/user/{name}/",
        }
    return {
        "name": name,
        "admin": False,
        "server": f"/user/{name}/" if running else None,
        "last_activity": last,
        "servers": servers,
    }


class FakeHub:
    """``jupyterhub.list_users`` answering from a scripted list of polls."""

    def __init__(self):
        self.users = []

    def list_users(self):
        return self.users


@pytest.fixture
def env(tmp_path):
    hub = FakeHub()
    db = tmp_path / "stats" / "db" / "activity.sqlite"
    pillar = {
        "stats": {
            "enabled": True,
            "interval": INTERVAL,
            "db": str(db),
            "report_png": str(tmp_path / "stats" / "report.png"),
        }
    }
    module = load(
        "_modules/stats.py",
        {
            "__pillar__": pillar,
            "__salt__": {"jupyterhub.list_users": hub.list_users},
            "__opts__": {},
        },
    )
    return module, hub, db, tmp_path


def poll(module, hub, now, users):
    """One scheduled run of stats.record at ``now`` with the hub answering ``users``."""
    module._now = lambda: now
    hub.users = [model(name, running, ago, now) for name, running, ago in users]
    return module.record()


DAY1 = datetime.datetime(2024, 10, 7, 9, 0, 0, 123456)
DAY2 = datetime.datetime(2024, 10, 8, 14, 0, 0, 654321)
# (time, [(user, has a running server, minutes since last activity)])
POLLS = [
    (DAY1, [("alice", True, 1), ("bob", True, 30), ("carol", False, 2)]),
    (
        DAY1 + datetime.timedelta(minutes=10),
        [("alice", True, 5), ("bob", True, 3), ("carol", False, 1)],
    ),
    (
        DAY1 + datetime.timedelta(minutes=20),
        [("alice", True, 15), ("bob", False, None), ("carol", True, 9)],
    ),
    (DAY2, [("alice", True, 60), ("bob", True, 0), ("carol", True, None), ("dave", True, 4)]),
]


def record_all(module, hub):
    return [poll(module, hub, when, users) for when, users in POLLS]


def png_size(path):
    """(width, height) from a PNG's IHDR chunk, after checking the signature."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_record_creates_the_directory_and_the_original_table(env):
    module, hub, db, _ = env
    assert not db.parent.exists()
    summary = poll(module, hub, DAY1, POLLS[0][1])
    assert summary == {
        "date": "2024-10-07 09:00:00.123456",
        "users": 3,
        "active": 1,
        "db": str(db),
    }
    assert stat.S_IMODE(os.stat(db.parent).st_mode) == 0o700
    with sqlite3.connect(db) as conn:
        assert table_info(conn) == original_columns()
        assert conn.execute("SELECT name FROM sqlite_master").fetchall() == [("activity",)]


def test_rows_read_back_as_the_original_analyses_read_them(env):
    module, hub, db, _ = env
    summaries = record_all(module, hub)
    assert [s["active"] for s in summaries] == [1, 2, 1, 2]
    conn = sqlite3.connect(db, detect_types=sqlite3.PARSE_DECLTYPES)
    try:
        rows = conn.execute("SELECT date, user, active FROM activity ORDER BY rowid").fetchall()
    finally:
        conn.close()
    assert len(rows) == 3 + 3 + 3 + 4
    # sqlite3's timestamp converter turns the column back into the poll's datetime.
    assert rows[0] == (DAY1, "alice", 1)
    assert rows[1] == (DAY1, "bob", 0)
    assert rows[-1] == (DAY2, "dave", 1)
    assert {active for _, _, active in rows} == {0, 1}


def test_the_report_reads_the_polls_back_and_plots_them(env):
    module, hub, _, tmp_path = env
    record_all(module, hub)
    result = module.report("2024-10-06", "2024-10-08")
    assert result["days"] == [
        {"date": "2024-10-06", "active_users": 0, "peak_concurrent": 0, "polls": 0},
        # alice at 9:00; alice and bob at 9:10; carol (9 minutes ago) at 9:20.
        {"date": "2024-10-07", "active_users": 3, "peak_concurrent": 2, "polls": 3},
        # bob and dave.
        {"date": "2024-10-08", "active_users": 2, "peak_concurrent": 2, "polls": 1},
    ]
    assert result["totals"] == {
        "active_users": 4,
        "peak_concurrent": 2,
        "peak_at": "2024-10-07 09:10:00",
        "polls": 4,
        "days": 3,
        "users_seen": 4,
    }
    png = tmp_path / "stats" / "report.png"
    assert result["png"] == str(png)
    assert (result["start"], result["end"]) == ("2024-10-06", "2024-10-08")
    assert png_size(png) == (1000, 500)
    assert png.stat().st_size > 10_000
    from PIL import Image

    with Image.open(png) as image:
        image.verify()
    with Image.open(png) as image:
        assert image.size == (1000, 500)
        # Not a blank canvas: bars and a line in more than a handful of colours.
        assert len(image.convert("RGB").getcolors(maxcolors=1 << 16) or []) > 20
    assert not [p for p in png.parent.iterdir() if p.name.startswith(".stats-")]


def test_the_range_selects_whole_days_in_sql(env):
    module, hub, _, _ = env
    record_all(module, hub)
    result = module.report(start="2024-10-08", end="2024-10-08", png=False)
    assert result["days"] == [
        {"date": "2024-10-08", "active_users": 2, "peak_concurrent": 2, "polls": 1}
    ]
    assert result["totals"]["users_seen"] == 4
    assert result["png"] is None
    assert module.report(start="2024-10-01", end="2024-10-06", png=False)["totals"] == {
        "active_users": 0,
        "peak_concurrent": 0,
        "peak_at": None,
        "polls": 0,
        "days": 6,
        "users_seen": 0,
    }


def test_the_default_range_runs_from_the_first_poll_to_today(env):
    module, hub, _, _ = env
    record_all(module, hub)
    module._now = lambda: datetime.datetime(2024, 10, 10, 8, 0)
    result = module.report(png=False)
    assert (result["start"], result["end"]) == ("2024-10-07", "2024-10-10")
    assert [d["polls"] for d in result["days"]] == [3, 1, 0, 0]


def test_a_png_into_a_missing_directory_is_an_error(env):
    module, hub, _, tmp_path = env
    record_all(module, hub)
    with pytest.raises(CommandExecutionError, match="does not exist"):
        module.report(png=str(tmp_path / "nowhere" / "plot.png"))


def test_a_database_the_original_wrote_is_reported_and_extended(env):
    module, hub, db, _ = env
    db.parent.mkdir(parents=True)
    conn = sqlite3.connect(db)
    with conn:
        conn.execute(ORIGINAL_CREATE)
        # Python's sqlite3 datetime adapter: isoformat(" "), no fraction when it is zero.
        conn.executemany(
            "INSERT INTO activity VALUES (?, ?, ?)",
            [
                (datetime.datetime(2015, 9, 1, 10, 0).isoformat(" "), "alice", True),
                (datetime.datetime(2015, 9, 1, 10, 0).isoformat(" "), "bob", False),
                (datetime.datetime(2015, 9, 1, 10, 10, 0, 5).isoformat(" "), "bob", True),
            ],
        )
    conn.close()
    poll(module, hub, datetime.datetime(2015, 9, 2, 10, 0), [("alice", True, 1)])
    result = module.report("2015-09-01", "2015-09-02", png=False)
    assert [(d["active_users"], d["peak_concurrent"], d["polls"]) for d in result["days"]] == [
        (2, 1, 2),
        (1, 1, 1),
    ]
    with sqlite3.connect(db) as conn:
        assert table_info(conn) == original_columns()


def test_a_failed_poll_writes_nothing(env):
    module, hub, db, _ = env
    poll(module, hub, DAY1, POLLS[0][1])

    def hub_down():
        raise CommandExecutionError("the hub at http://127.0.0.1:8081 is not answering")

    module.__salt__["jupyterhub.list_users"] = hub_down
    with pytest.raises(CommandExecutionError, match="not answering"):
        module.record()
    module.__salt__["jupyterhub.list_users"] = lambda: [model("eve", True, 1, DAY2), {"admin": 1}]
    with pytest.raises(CommandExecutionError, match="without a name"):
        module.record()
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM activity").fetchone() == (3,)


def test_report_never_creates_the_database(env):
    module, _, db, _ = env
    with pytest.raises(CommandExecutionError, match="has not run yet"):
        module.report(png=False)
    assert not db.exists() and not db.parent.exists()
