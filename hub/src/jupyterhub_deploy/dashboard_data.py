"""
The staff dashboard's data layer: what the page shows, from the snapshot file.

The hub's ``jupyterhub-dashboard-snapshot`` timer (salt/dashboard) runs
``salt-run dashboard.snapshot`` (_runners/dashboard.py) every ``dashboard:refresh``; that
writes one JSON file with the answers of ``salt-run jupyterhub.status`` (its problem lines
word for word) and ``stats.report``. Everything here is a pure function of that file and
the time, so the page's words are unit-tested; dashboard.py only serves them. Every failure
is a sentence: the page never shows a traceback or goes blank.
"""

import datetime
import html
import json

# The snapshot's format this page reads (_runners/dashboard.py VERSION).
VERSION = 1
RANGES = ("7d", "30d", "term")
# A container at this share of its memory limit is marked: the kernel's OOM killer is near.
NEAR_LIMIT = 0.8


class DataError(Exception):
    """The snapshot cannot be shown; the message says why and what to do, in words."""


def read_snapshot(path):
    """The parsed snapshot at ``path``, or :class:`DataError` saying what is wrong."""
    try:
        with open(path, encoding="utf-8") as handle:
            snapshot = json.load(handle)
    except FileNotFoundError:
        raise DataError(
            f"There is no snapshot yet ({path}): the hub writes one every minute or so "
            "(on the hub: systemctl status jupyterhub-dashboard-snapshot.timer)."
        ) from None
    except (OSError, ValueError) as error:
        raise DataError(f"The snapshot {path} cannot be read: {error}.") from None
    found = snapshot.get("version") if isinstance(snapshot, dict) else "?"
    if found != VERSION:
        raise DataError(
            f"The snapshot {path} has format {found}, this page reads format {VERSION}: "
            "apply the hub's states again (salt hub state.apply)."
        )
    return snapshot


def parse_time(text):
    """An ISO time (with or without zone, UTC assumed) or None."""
    if not text or not isinstance(text, str):
        return None
    try:
        when = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=datetime.UTC)


def time_text(text):
    """``2026-12-03 07:39:39 UTC`` of an ISO time; what it was when it is not one."""
    when = parse_time(text)
    if when is None:
        return text or "unknown"
    return when.astimezone(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def duration_text(seconds):
    """``42 s``, ``5 min``, ``3 h 10 min``, ``2 days 4 h``."""
    seconds = max(0, int(seconds))
    if seconds < 120:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 120:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min"
    days, hours = divmod(hours, 24)
    return f"{days} days {hours} h"


def freshness(snapshot, now):
    """``{"time", "age", "notice"}``: how old the snapshot is; a notice when it is late
    (the timer or salt stopped: the page would otherwise look fine while it is not)."""
    taken = parse_time(snapshot.get("time"))
    if taken is None:
        return {"time": None, "age": "unknown", "notice": "The snapshot has no time."}
    age = (now - taken).total_seconds()
    refresh = int(snapshot.get("refresh_seconds") or 60)
    notice = None
    if age > 3 * refresh + 30:
        notice = (
            f"This snapshot is {duration_text(age)} old (it is refreshed every "
            f"{duration_text(refresh)}): the hub's snapshot timer or salt is not running "
            "(on the hub: systemctl status jupyterhub-dashboard-snapshot.timer)."
        )
    return {"time": time_text(snapshot.get("time")), "age": duration_text(age), "notice": notice}


def memory(used, limit):
    """``{"text", "percent", "near_limit"}`` of one container's memory."""
    if not limit:
        return {"text": f"{used / 2**20:.0f} MiB (no limit)", "percent": None, "near_limit": False}
    share = used / limit
    return {
        "text": f"{used / 2**20:.0f} MiB of {limit / 2**20:.0f} MiB ({share:.0%})",
        "percent": round(100 * share, 1),
        "near_limit": share >= NEAR_LIMIT,
    }


def node_view(node, running):
    """One node: its swarm state, a sentence when it did not answer, its containers."""
    containers = []
    for container in node.get("containers", []):
        figures = memory(container["memory_bytes"], container["memory_limit_bytes"])
        since = running.get(container["user"], {})
        containers.append({
            "user": container["user"],
            "memory": figures["text"],
            "percent": figures["percent"],
            "near_limit": figures["near_limit"],
            "status": container.get("status"),
            "image": (container.get("image") or "").rsplit("/", 1)[-1] or "unknown",
            "started": time_text(since.get("started")),
            "last_activity": time_text(since.get("last_activity")),
        })  # fmt: skip
    if node.get("answered"):
        state = f"swarm: {node.get('swarm')}"
    else:
        problem = str(node.get("problem") or "no reply").removeprefix("PROBLEM: ")
        state = f"does not answer: {problem}"
    return {
        "minion": node["minion"],
        "answered": bool(node.get("answered")),
        "state": state,
        "student_image": node.get("student_image", "unknown"),
        "containers": containers,
    }


def backup_line(backup):
    """The last backup in one sentence: when, how old, and what is wrong with it."""
    if isinstance(backup, str):
        return backup if backup.startswith("disabled") else f"unknown: {backup}"
    if not isinstance(backup, dict):
        return "unknown: the hub did not say"
    if backup.get("time") in (None, "none"):
        line = f"no complete backup yet (target {backup.get('target')})"
    else:
        line = f"{time_text(backup['time'])} ({backup.get('age')} old at the snapshot)"
        if backup.get("stale"):
            line += ": STALE"
    failed = backup.get("last failed")
    if failed and failed != "none":
        line += f"; last failed: {', '.join(failed)}"
    return line


def cull_line(cull):
    """The last cull: when and whom it stopped."""
    if cull is None:
        return "unknown: the hub did not say"
    if cull == "never":
        return "never (no server has been idle long enough yet)"
    if isinstance(cull, dict):
        stopped = ", ".join(cull.get("stopped") or []) or "nobody"
        return f"{cull.get('time')}: stopped {stopped}"
    return str(cull)


def home_line(home):
    """``/home`` usage in one line."""
    if isinstance(home, dict):
        return (
            f"{home.get('used')} used on {home.get('mount')}, {home.get('available_GiB')} GiB free"
        )
    return f"unknown: {home}" if home else "unknown: the hub did not say"


def certificate_line(cert):
    """The proxy's certificate: who issued it, for which names, and days left."""
    if isinstance(cert, dict):
        return (
            f"{', '.join(cert.get('names') or [])} from {cert.get('issuer')}: "
            f"{cert.get('days left')} days left (until {cert.get('expires')})"
        )
    return str(cert) if cert else "unknown: the proxy did not say"


def view(snapshot, now, hub_api=None):
    """What ``api/status`` returns: every line the page shows, already in words.
    ``hub_api`` is None when the hub's API answers, else a sentence saying it does not."""
    fresh = freshness(snapshot, now)
    servers = snapshot.get("servers")
    running = {s["user"]: s for s in servers} if isinstance(servers, list) else {}
    nodes = [node_view(node, running) for node in snapshot.get("nodes", [])]
    held = [n["student_image"] for n in nodes if n["answered"]]
    if not held:
        image_everywhere = "unknown: no node answered"
    elif all(h == "present" for h in held):
        image_everywhere = "on every node that answered"
    else:
        missing = [n["minion"] for n in nodes if n["answered"] and n["student_image"] != "present"]
        image_everywhere = f"missing on {', '.join(missing)}"
    notices = [text for text in (hub_api, fresh["notice"]) if text]
    if isinstance(servers, dict):
        notices.append(f"Running servers are unknown: {servers.get('error')}")
        servers = []
    return {
        "snapshot": fresh,
        "notices": notices,
        "problems": list(snapshot.get("problems") or []),
        "nodes": nodes,
        "servers": [
            {
                **server,
                "started": time_text(server.get("started")),
                "last_activity": time_text(server.get("last_activity")),
                "image": (server.get("image") or "").rsplit("/", 1)[-1] or "unknown",
            }
            for server in servers or []
        ],
        "student_image": snapshot.get("student_image") or "unknown",
        "image_on_nodes": image_everywhere,
        "last_cull": cull_line(snapshot.get("last_cull")),
        "last_backup": backup_line(snapshot.get("last_backup")),
        "home": home_line(snapshot.get("home")),
        "certificate": certificate_line(snapshot.get("certificate")),
    }


def activity_view(snapshot, range_name):
    """``{"range", "days", "totals", "svg"}`` for one of RANGES, or :class:`DataError`
    (an unknown range; the hub's stats not answering)."""
    if range_name not in RANGES:
        raise DataError(f"Unknown range {range_name!r}: choose one of {', '.join(RANGES)}.")
    report = (snapshot.get("activity") or {}).get(range_name)
    if not isinstance(report, dict) or "days" not in report:
        reason = report.get("error") if isinstance(report, dict) else "not in the snapshot"
        raise DataError(f"The activity for {range_name} is unknown: {reason}.")
    days = report["days"]
    return {
        "range": range_name,
        "days": days,
        "totals": report.get("totals", {}),
        "svg": plot_svg(days, f"Activity, {report.get('start')} to {report.get('end')}"),
    }


def plot_svg(days, title, width=720, height=240):
    """Daily active users (bars) and peak concurrency (line) as an SVG document."""
    left, right, top, bottom = 40, 10, 28, 30
    inner_w, inner_h = width - left - right, height - top - bottom
    top_value = max([1] + [d["active_users"] for d in days] + [d["peak_concurrent"] for d in days])
    step = inner_w / max(1, len(days))

    def y(value):
        return top + inner_h - inner_h * value / top_value

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{html.escape(title)}">',
        f'<text x="{left}" y="16" font-size="13">{html.escape(title)}</text>',
        f'<line x1="{left}" y1="{top + inner_h}" x2="{width - right}" y2="{top + inner_h}" '
        'stroke="#888"/>',
        f'<text x="4" y="{top + 10}" font-size="11">{top_value}</text>',
        f'<text x="4" y="{top + inner_h}" font-size="11">0</text>',
    ]
    points = []
    for i, day in enumerate(days):
        x = left + i * step
        bar = inner_h * day["active_users"] / top_value
        parts.append(
            f'<rect class="active" x="{x + step * 0.15:.1f}" y="{top + inner_h - bar:.1f}" '
            f'width="{step * 0.7:.1f}" height="{bar:.1f}" fill="#4a90d9">'
            f"<title>{html.escape(day['date'])}: {day['active_users']} active, "
            f"peak {day['peak_concurrent']}</title></rect>"
        )
        points.append(f"{x + step / 2:.1f},{y(day['peak_concurrent']):.1f}")
    if days:
        parts.append(f'<text x="{left}" y="{height - 8}" font-size="11">'
                     f'{html.escape(days[0]["date"])}</text>')  # fmt: skip
        parts.append(f'<text x="{width - right}" y="{height - 8}" font-size="11" '
                     f'text-anchor="end">{html.escape(days[-1]["date"])}</text>')  # fmt: skip
        parts.append(f'<polyline class="peak" points="{" ".join(points)}" fill="none" '
                     'stroke="#d9534f" stroke-width="2"/>')  # fmt: skip
    parts.append(
        f'<text x="{width - right}" y="16" font-size="11" text-anchor="end">'
        "bars: daily active users; line: peak concurrent servers</text></svg>"
    )
    return "".join(parts)
