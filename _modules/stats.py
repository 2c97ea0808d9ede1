"""
Activity statistics of the hub's students, recorded by a salt schedule.

The original class ran minrk's ``log_activity`` next to the hub: every 10 minutes it asked
the hub for its users and wrote one row per user into sqlite, in the table the class's
analyses read::

    CREATE TABLE IF NOT EXISTS activity (date timestamp, user text, active bool)

``date`` is the poll time in UTC as Python's sqlite3 adapter wrote it
(``YYYY-MM-DD HH:MM:SS.ffffff``), and a user is active when they have a running server and
their last activity is more recent than one interval ago. ``record`` keeps that table, that
format and that rule, so old databases and old notebooks keep working; salt's scheduler
(``salt/stats/init.sls``) replaces the daemon, so every poll lands in the job cache.
``report`` turns the table into daily active users and peak concurrency, and a PNG plot.

Settings are the pillar's ``stats`` section (``salt/stats/defaults.yaml``): ``db``,
``interval`` (seconds, normalised by the ext_pillar) and ``report_png``. The hub's users
come from ``jupyterhub.list_users`` (``_modules/jupyterhub.py``). Days are UTC days.

The activity rule and the report's arithmetic are in _utils/stats_activity.py, the plot
in _utils/stats_plot.py.
"""

import datetime
import os
import sqlite3
import urllib.parse

from salt.exceptions import CommandExecutionError

__virtualname__ = "stats"

# Exactly the original's schema: the class's analyses read this table.
SCHEMA = "CREATE TABLE IF NOT EXISTS activity (date timestamp, user text, active bool)"
DAY_FORMAT = "%Y-%m-%d"
# Seconds to wait for the database when another process holds its lock.
LOCK_TIMEOUT = 30


def __virtual__():
    return __virtualname__


# --- settings and the database -----------------------------------------------------------


def _now():
    """The current time as a naive UTC datetime (the original used ``utcnow()``)."""
    return datetime.datetime.now(datetime.UTC).replace(tzinfo=None)


def _setting(key):
    """The pillar's ``stats:<key>``; a clear error when the pillar lacks it."""
    stats = __pillar__.get("stats")
    if not isinstance(stats, dict) or key not in stats:
        raise CommandExecutionError(
            f"pillar stats:{key} is not set: this minion's pillar lacks the jupyterhub_deploy "
            "ext_pillar's defaults (salt/stats/defaults.yaml); try saltutil.refresh_pillar"
        )
    return stats[key]


def _db_path(db):
    """The database: ``db`` when given, else pillar ``stats:db``."""
    return str(db if db is not None else _setting("db"))


def _connect_readonly(path):
    """A read-only connection to an existing database with the activity table (never
    creates the file, so a report cannot hide a schedule that never ran)."""
    if not os.path.exists(path):
        raise CommandExecutionError(
            f"no activity database at {path}: the stats schedule has not run yet "
            "(check `salt-call schedule.list` on the hub, or record one poll now with "
            "`salt-call stats.record`)"
        )
    uri = "file:" + urllib.parse.quote(os.path.abspath(path)) + "?mode=ro"
    try:
        conn = sqlite3.connect(uri, uri=True, timeout=LOCK_TIMEOUT)
        tables = conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'activity'"
        ).fetchall()
    except sqlite3.Error as exc:
        raise CommandExecutionError(f"cannot read the activity database {path}: {exc}") from None
    if not tables:
        conn.close()
        raise CommandExecutionError(
            f"{path} has no activity table: the stats schedule has not recorded a poll yet"
        )
    return conn


# --- the module's functions --------------------------------------------------------------


def record(db=None, interval=None):
    """
    Poll the hub once and append one row per user to the activity table of ``db``
    (default pillar ``stats:db``), creating its directory and the table when missing; a
    user is active when they have a running server and activity within the last
    ``interval`` seconds (default pillar ``stats:interval``). One transaction per poll.

    Returns ``{"date", "users", "active", "db"}``: the poll time as stored, how many users
    the hub has, how many were active, and the database.

    CLI Example:

    .. code-block:: bash

        salt hub stats.record
    """
    path = _db_path(db)
    interval = int(interval if interval is not None else _setting("interval"))
    if interval <= 0:
        raise CommandExecutionError(f"stats interval must be positive seconds, got {interval}")
    list_users = __salt__.get("jupyterhub.list_users")
    if list_users is None:
        raise CommandExecutionError(
            "jupyterhub.list_users is not available on this minion: run saltutil.sync_modules"
        )
    users = list_users()
    if not isinstance(users, list):
        raise CommandExecutionError(
            f"jupyterhub.list_users returned {type(users).__name__}, not a list of users"
        )
    now = _now()
    rows = __utils__["stats_activity.activity_rows"](users, now, interval)

    directory = os.path.dirname(os.path.abspath(path))
    try:
        # The rows name students: root only (salt/stats/init.sls keeps the same mode).
        os.makedirs(directory, mode=0o700, exist_ok=True)
        conn = sqlite3.connect(path, timeout=LOCK_TIMEOUT)
    except (OSError, sqlite3.Error) as exc:
        raise CommandExecutionError(f"cannot open the activity database {path}: {exc}") from None
    try:
        with conn:
            conn.execute(SCHEMA)
            conn.executemany("INSERT INTO activity VALUES (?, ?, ?)", rows)
    except sqlite3.Error as exc:
        raise CommandExecutionError(
            f"cannot write to the activity database {path}: {exc}"
        ) from None
    finally:
        conn.close()
    return {
        "date": rows[0][0] if rows else __utils__["stats_activity.format_timestamp"](now),
        "users": len(rows),
        "active": sum(1 for row in rows if row[2]),
        "db": path,
    }


def report(start=None, end=None, png=None, db=None):
    """
    Daily active users and peak concurrency from ``start`` to ``end`` (``YYYY-MM-DD``, both
    included, UTC days; default from the first recorded day to today), and a PNG plot of
    both at ``png`` (default pillar ``stats:report_png``; ``png=False`` for none).

    Returns ``{"db", "start", "end", "png", "days": [{"date", "active_users",
    "peak_concurrent", "polls"}, ...], "totals": {"active_users", "peak_concurrent",
    "peak_at", "polls", "days", "users_seen"}}``. A day with ``polls`` 0 has no data (the
    schedule did not run), not merely no activity.

    CLI Example:

    .. code-block:: bash

        salt hub stats.report 2024-09-01 2024-12-20
        salt hub stats.report start=2024-09-01 png=/srv/stats/fall.png
        salt hub stats.report png=False
    """
    path = _db_path(db)
    parse_day = __utils__["stats_activity.parse_day"]
    start_day, end_day = parse_day(start, "start"), parse_day(end, "end")
    if png is None:
        png = _setting("report_png")
    conn = _connect_readonly(path)
    try:
        if start_day is None:
            first = conn.execute("SELECT min(date) FROM activity").fetchone()[0]
            start_day = __utils__["stats_activity.day_of"](first) if first else None
        if end_day is None:
            end_day = _now().date()
        if start_day is None:
            start_day = end_day
        if start_day > end_day:
            raise CommandExecutionError(f"start {start_day} is after end {end_day}")
        # Stored dates start with YYYY-MM-DD, so text comparison selects whole days.
        bounds = (
            start_day.strftime(DAY_FORMAT),
            (end_day + datetime.timedelta(days=1)).strftime(DAY_FORMAT),
        )
        where = "date >= ? AND date < ?"
        polls = [
            r[0] for r in conn.execute(f"SELECT DISTINCT date FROM activity WHERE {where}", bounds)
        ]
        active = conn.execute(
            f"SELECT date, user FROM activity WHERE {where} AND active", bounds
        ).fetchall()
        users_seen = conn.execute(
            f"SELECT count(DISTINCT user) FROM activity WHERE {where}", bounds
        ).fetchone()[0]
    except sqlite3.Error as exc:
        raise CommandExecutionError(f"cannot read the activity database {path}: {exc}") from None
    finally:
        conn.close()

    result = __utils__["stats_activity.summarize"](polls, active, start_day, end_day)
    result["totals"]["users_seen"] = users_seen
    written = None
    if png:
        written = __utils__["stats_plot.draw"](
            result["days"],
            str(png),
            title=f"JupyterHub activity {start_day:%Y-%m-%d} to {end_day:%Y-%m-%d}",
        )
    return {
        "db": path,
        "start": start_day.strftime(DAY_FORMAT),
        "end": end_day.strftime(DAY_FORMAT),
        "png": written,
        **result,
    }
