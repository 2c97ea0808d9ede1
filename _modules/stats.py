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

Why about 450 lines: the record, the report and its plot are one salt module (one
sqlite file, one schema), and the docstrings of its public functions are half of it.
"""

import datetime
import os
import sqlite3
import tempfile
import urllib.parse

from salt.exceptions import CommandExecutionError

__virtualname__ = "stats"

# Exactly the original's schema: the class's analyses read this table.
SCHEMA = "CREATE TABLE IF NOT EXISTS activity (date timestamp, user text, active bool)"
# What sqlite3's default datetime adapter wrote (it dropped ".000000" when the microseconds
# were zero; this keeps them, so every row has the same width). Readers with
# detect_types=PARSE_DECLTYPES get datetimes back either way.
TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S.%f"
DAY_FORMAT = "%Y-%m-%d"
# Seconds to wait for the database when another process holds its lock.
LOCK_TIMEOUT = 30
# The plot: 10 x 5 inches at 100 dpi is a 1000 x 500 pixel PNG.
PLOT_SIZE = (10, 5)
PLOT_DPI = 100


def __virtual__():
    return __virtualname__


# --- pure computations -------------------------------------------------------------------


def parse_time(value):
    """
    A naive UTC datetime from JupyterHub's ISO 8601 strings (``...Z``, ``+00:00`` or naive,
    which JupyterHub means as UTC), or None for None and the empty string.
    """
    if value is None or value == "":
        return None
    if isinstance(value, datetime.datetime):
        parsed = value
    else:
        try:
            parsed = datetime.datetime.fromisoformat(str(value).strip())
        except ValueError:
            raise CommandExecutionError(
                f"the hub returned a last_activity that is not ISO 8601: {value!r}"
            ) from None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(datetime.UTC).replace(tzinfo=None)
    return parsed


def has_running_server(user):
    """
    True when the user's default server is running (``server`` is its URL, as in the
    original's rule) or one of their named servers is ready and not pending (starting or
    stopping servers do not count).
    """
    if user.get("server"):
        return True
    servers = user.get("servers") or {}
    return any(
        isinstance(server, dict) and server.get("ready") and not server.get("pending")
        for server in servers.values()
    )


def last_activity(user):
    """
    The user's most recent activity as a naive UTC datetime, or None: the user-level
    ``last_activity`` (the original's), or a running server's if that is more recent.
    """
    times = [parse_time(user.get("last_activity"))]
    for server in (user.get("servers") or {}).values():
        if isinstance(server, dict) and server.get("ready") and not server.get("pending"):
            times.append(parse_time(server.get("last_activity")))
    times = [t for t in times if t is not None]
    return max(times) if times else None


def is_active(user, now, interval):
    """
    The original's rule: a running server and last activity strictly after
    ``now - interval`` (``now`` a naive UTC datetime, ``interval`` in seconds).
    """
    if not has_running_server(user):
        return False
    seen = last_activity(user)
    return seen is not None and seen > now - datetime.timedelta(seconds=interval)


def format_timestamp(when):
    """A naive UTC datetime as the ``date`` column stores it."""
    return when.strftime(TIMESTAMP_FORMAT)


def activity_rows(users, now, interval):
    """One ``(date, user, active)`` row per user of one poll, as ``record`` inserts them."""
    date = format_timestamp(now)
    rows = []
    for user in users:
        if not isinstance(user, dict) or not user.get("name"):
            raise CommandExecutionError(f"the hub returned a user without a name: {user!r}")
        rows.append((date, str(user["name"]), is_active(user, now, interval)))
    return rows


def parse_day(value, name):
    """A ``datetime.date`` from ``YYYY-MM-DD`` (or a date), naming the argument when wrong."""
    if value is None:
        return None
    if isinstance(value, datetime.datetime):
        return value.date()
    if isinstance(value, datetime.date):
        return value
    try:
        return datetime.datetime.strptime(str(value).strip(), DAY_FORMAT).date()
    except ValueError:
        raise CommandExecutionError(
            f"{name}={value!r} is not a date: use YYYY-MM-DD, e.g. 2024-09-30"
        ) from None


def _day_of(timestamp):
    """The UTC day of a stored ``date`` (its first ten characters, ``YYYY-MM-DD``)."""
    return datetime.date.fromisoformat(str(timestamp)[:10])


def summarize(polls, active, start, end):
    """
    Daily active users and peak concurrency between ``start`` and ``end`` (dates, both
    included), from ``polls`` (every poll time recorded, as stored) and ``active`` (the
    ``(date, user)`` of every active row). Rows outside the range are ignored.

    Returns ``{"days": [...], "totals": {...}}``; each day is ``{"date", "active_users"``
    (distinct users active at any poll that day), ``"peak_concurrent"`` (the most users
    active at one poll), ``"polls"}`` (0 when nothing was recorded that day); totals are
    ``{"active_users"`` (distinct over the range), ``"peak_concurrent", "peak_at"`` (the
    first poll with that peak, or None), ``"polls", "days"}``.
    """
    if start > end:
        raise CommandExecutionError(f"start {start} is after end {end}")

    def in_range(timestamp):
        """True when the stored ``date`` falls on a day of the range."""
        return start <= _day_of(timestamp) <= end

    polls_per_day = {}
    for poll in {str(p) for p in polls if in_range(p)}:
        day = _day_of(poll)
        polls_per_day[day] = polls_per_day.get(day, 0) + 1
    users_per_poll = {}
    for date, user in active:
        if in_range(date):
            users_per_poll.setdefault(str(date), set()).add(user)

    users_per_day, peak_per_day = {}, {}
    for poll, users in users_per_poll.items():
        day = _day_of(poll)
        users_per_day.setdefault(day, set()).update(users)
        peak_per_day[day] = max(peak_per_day.get(day, 0), len(users))

    days = []
    day = start
    while day <= end:
        days.append(
            {
                "date": day.strftime(DAY_FORMAT),
                "active_users": len(users_per_day.get(day, ())),
                "peak_concurrent": peak_per_day.get(day, 0),
                "polls": polls_per_day.get(day, 0),
            }
        )
        day += datetime.timedelta(days=1)

    peak, peak_at = 0, None
    for poll in sorted(users_per_poll):
        if len(users_per_poll[poll]) > peak:
            peak, peak_at = len(users_per_poll[poll]), poll[:19]
    everyone = set().union(*users_per_day.values()) if users_per_day else set()
    totals = {
        "active_users": len(everyone),
        "peak_concurrent": peak,
        "peak_at": peak_at,
        "polls": sum(polls_per_day.values()),
        "days": len(days),
    }
    return {"days": days, "totals": totals}


def plot(days, path, title="JupyterHub activity"):
    """
    Write a PNG of daily active users (bars) and peak concurrency (line) to ``path``,
    replacing it atomically. Uses matplotlib's Agg canvas directly: no display, no pyplot
    global state inside the minion.
    """
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise CommandExecutionError(
            "matplotlib is not installed in salt's Python (requirements/host.txt): run "
            "script/bootstrap again, or pass png=False for the numbers only"
        ) from None
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise CommandExecutionError(f"cannot write the plot {path}: {directory} does not exist")

    dates = [datetime.date.fromisoformat(day["date"]) for day in days]
    actives = [day["active_users"] for day in days]
    # A day without polls has no data, not zero users: a gap in the line.
    peaks = [day["peak_concurrent"] if day["polls"] else float("nan") for day in days]
    figure = Figure(figsize=PLOT_SIZE, dpi=PLOT_DPI)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.bar(dates, actives, color="#9ecae1", label="daily active users")
    axes.plot(
        dates,
        peaks,
        color="#d62728",
        marker="o" if len(days) <= 62 else None,
        label="peak concurrent users",
    )
    axes.set_title(title)
    axes.set_xlabel("day (UTC)")
    axes.set_ylabel("users")
    # Headroom for the legend above the tallest bar.
    axes.set_ylim(0, max([1, *actives]) * 1.25)
    axes.yaxis.get_major_locator().set_params(integer=True)
    axes.legend(loc="upper left", ncols=2)
    axes.grid(axis="y", alpha=0.3)
    figure.autofmt_xdate()
    handle, tmp = tempfile.mkstemp(prefix=".stats-", suffix=".png", dir=directory)
    try:
        with os.fdopen(handle, "wb") as out:
            figure.savefig(out, format="png", dpi=PLOT_DPI)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


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
    rows = activity_rows(users, now, interval)

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
        "date": rows[0][0] if rows else format_timestamp(now),
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
    start_day, end_day = parse_day(start, "start"), parse_day(end, "end")
    if png is None:
        png = _setting("report_png")
    conn = _connect_readonly(path)
    try:
        if start_day is None:
            first = conn.execute("SELECT min(date) FROM activity").fetchone()[0]
            start_day = _day_of(first) if first else None
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

    result = summarize(polls, active, start_day, end_day)
    result["totals"]["users_seen"] = users_seen
    written = None
    if png:
        written = plot(
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
