"""
The staff dashboard's data: ``salt-run dashboard.snapshot PATH`` writes what the page
(jupyterhub_deploy/dashboard.py, the ``dashboard`` service) shows, as one JSON file.

The hub's minion runs it on a schedule (salt/dashboard), every ``dashboard:refresh``.
It asks the minions the same questions as ``salt-run jupyterhub.status``, through the same
code (``jupyterhub.gather`` and ``jupyterhub.summarize``), so the page and the status agree:
its ``problems`` are the status's problem lines, word for word. It adds the numbers a page
draws (memory used of each limit) and ``stats.report`` for the page's ranges. The page
holds no salt key and no pillar secret: it reads this file and nothing else of salt's.
"""

import datetime
import json
import os
import tempfile

import salt.client

__virtualname__ = "dashboard"

# What the page's file looks like; the page refuses another version in words.
VERSION = 1
# The page's activity ranges: days back from today (UTC), None from the first record.
RANGES = {"7d": 7, "30d": 30, "term": None}
STATS_TIMEOUT = 120


def __virtual__():
    return __virtualname__


def _now():
    return datetime.datetime.now(datetime.UTC)


def activity(ask, today):
    """``{range: stats.report result or {"error"}}`` for each of RANGES, where ``ask(kwarg)``
    returns the hub's full_return of ``stats.report`` for those arguments."""
    reply_value = __salt__["jupyterhub.reply_value"]
    result = {}
    for name, days in RANGES.items():
        start = None if days is None else (today - datetime.timedelta(days=days - 1)).isoformat()
        ok, report = reply_value(ask({"start": start, "end": today.isoformat(), "png": False}),
                                 dict)  # fmt: skip
        result[name] = report if ok else {"error": f"stats.report: {report}"}
    return result


def nodes_of(report, node_ids, node_replies):
    """Each node for the page: its swarm line, whether it answered, its students' containers
    with their memory figures, and whether it holds the student image."""
    reply_value = __salt__["jupyterhub.reply_value"]
    held = report.get("student image on nodes") or {}
    swarm = report.get("swarm") if isinstance(report.get("swarm"), dict) else {}
    result = []
    for node in node_ids:
        ok, containers = reply_value((node_replies or {}).get(node), list)
        lines = report["nodes"].get(node)
        result.append({
            "minion": node,
            "swarm": swarm.get(node, "not in the swarm"),
            "answered": ok,
            "problem": None if ok else lines,
            "student_image": held.get(node, "unknown"),
            "containers": [
                {
                    "user": c["service"].removeprefix("jupyter-"),
                    "service": c["service"],
                    "memory_bytes": c["memory_bytes"],
                    "memory_limit_bytes": c["memory_limit_bytes"],
                    "status": c["status"],
                    "image": c.get("image"),
                    "line": lines.get(c["service"]) if isinstance(lines, dict) else None,
                }
                for c in (containers if ok else [])
            ],
        })  # fmt: skip
    return result


def servers_of(hub_replies, nodes):
    """The running servers: since, last activity, and the node and image they run on."""
    ok, running = __salt__["jupyterhub.reply_value"](
        hub_replies.get("jupyterhub.running_servers"), dict
    )
    if not ok:
        return {"error": running}
    where = {c["user"]: (node["minion"], c) for node in nodes for c in node["containers"]}
    result = []
    for name, server in sorted(running.items()):
        node, container = where.get(name, (None, {}))
        result.append({
            "user": name,
            "started": server.get("started"),
            "last_activity": server.get("last_activity"),
            "node": node,
            "image": container.get("image"),
        })  # fmt: skip
    return result


def page_model(gathered, activity_by_range, now, refresh):
    """The snapshot (a pure function of the answers ``jupyterhub.gather`` returned)."""
    hub_id, hub_replies, node_ids, node_replies = gathered[:4]
    report, problems = __salt__["jupyterhub.summarize"](*gathered)
    hub = report["hub"][hub_id]
    nodes = nodes_of(report, node_ids, node_replies)
    return {
        "version": VERSION,
        "time": now.isoformat(timespec="seconds"),
        "refresh_seconds": refresh,
        "problems": problems,
        "hub": {"minion": hub_id, "answered": bool(hub_replies), "users": hub.get("users")},
        "nodes": nodes,
        "servers": servers_of(hub_replies, nodes),
        "student_image": hub.get("student image"),
        "last_cull": hub.get("last cull"),
        "last_backup": hub.get("last backup"),
        "home": hub.get("/home"),
        "certificate": report.get("certificate"),
        "activity": activity_by_range,
        "status": {key: value for key, value in report.items() if key != "logs"},
    }


def write(path, model, gid=0):
    """Write ``model`` to ``path`` at once (a reader never sees half a file), mode 0640,
    group ``gid`` (the dashboard's)."""
    directory = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".snapshot-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(model, handle, indent=1, sort_keys=True, default=str)
        os.chmod(tmp, 0o640)
        os.chown(tmp, 0, int(gid))
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def snapshot(path, gid=0, refresh=60):
    """
    Ask the cluster what ``salt-run jupyterhub.status`` asks, plus the activity report,
    and write the dashboard's snapshot to ``path`` (group ``gid``). Returns a short summary.

    CLI Example:

    .. code-block:: bash

        salt-run dashboard.snapshot /srv/jupyterhub/dashboard/snapshot.json
    """
    started = _now()
    gathered = __salt__["jupyterhub.gather"]()
    hub_id = gathered[0]
    client = salt.client.get_local_client(mopts=__opts__)

    def ask(kwarg):
        """The hub's full_return of ``stats.report`` (a silent hub: no reply)."""
        if not gathered[1]:
            return None
        replies = client.cmd(hub_id, "stats.report", kwarg=kwarg, timeout=STATS_TIMEOUT,
                             full_return=True)  # fmt: skip
        return replies.get(hub_id)

    model = page_model(gathered, activity(ask, started.date()), started, int(refresh))
    model["took_seconds"] = round((_now() - started).total_seconds(), 1)
    write(path, model, gid)
    return {"path": path, "problems": len(model["problems"]), "took": model["took_seconds"]}
