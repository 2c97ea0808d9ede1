"""
The activity rule and the report's arithmetic of the stats module (_modules/stats.py), pure
functions over the hub's user models and the stored rows: the original class's rule (a
running server and activity within one interval) and its table's timestamp format.
"""

import datetime

from salt.exceptions import CommandExecutionError

# What sqlite3's default datetime adapter wrote (it dropped ".000000" when the microseconds
# were zero; this keeps them, so every row has the same width). Readers with
# detect_types=PARSE_DECLTYPES get datetimes back either way.
TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S.%f"
DAY_FORMAT = "%Y-%m-%d"


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


def day_of(timestamp):
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
        return start <= day_of(timestamp) <= end

    polls_per_day = {}
    for poll in {str(p) for p in polls if in_range(p)}:
        day = day_of(poll)
        polls_per_day[day] = polls_per_day.get(day, 0) + 1
    users_per_poll = {}
    for date, user in active:
        if in_range(date):
            users_per_poll.setdefault(str(date), set()).add(user)

    users_per_day, peak_per_day = {}, {}
    for poll, users in users_per_poll.items():
        day = day_of(poll)
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
