"""
One command for what the 2015 README taught admins to look up by hand, and drain/undrain.

``salt-run jupyterhub.status`` asks the hub and the nodes (by nodegroup, so by minion id) and
prints, per node, the running student containers, their memory and image; on the hub the
users, the running servers, the student image it spawns, the last cull, the last backup
and its age, and /home usage; the proxy's certificate (issuer, days left); and where each
service's logs are. It exits non-zero when something needs attention (a node that does not
answer or that swarm sees down, with the servers that were on it; the hub API down; a stale
or failing backup; a certificate with fewer than 14 days left).

``salt-run jupyterhub.drain NODE`` stops new servers from starting on a node (maintenance);
``undrain`` lets them start there again.
"""

import salt.client
import salt.utils.minions

__virtualname__ = "jupyterhub"

TIMEOUT = 60


def __virtual__():
    return __virtualname__


def _targeted(group):
    """The minion ids a nodegroup names (from the pillar-derived roles), answering or not."""
    found = salt.utils.minions.CkMinions(__opts__).check_minions(group, "nodegroup")
    return sorted(found["minions"])


NOT_CONNECTED = {"ret": "not connected to the master", "retcode": 1}


def _connected(ids):
    """The minions of ``ids`` connected to the master now; all of them if salt cannot say."""
    try:
        connected = set(salt.utils.minions.CkMinions(__opts__).connected_ids())
    except Exception:  # noqa: BLE001 - presence unknown: ask every one
        return list(ids)
    return [minion for minion in ids if minion in connected] if connected else list(ids)


def _ask(client, minions, function, args=()):
    """``{minion: full_return}`` of ``function`` on ``minions`` that are connected; the others
    answer NOT_CONNECTED at once (salt would wait the whole timeout for them)."""
    asked = _connected(minions)
    replies = {minion: NOT_CONNECTED for minion in minions if minion not in asked}
    if asked:
        # One function per job: salt 3008's jobs.list_jobs search_function crashes on the
        # job cache's multi-function jobs, which would break finding backup runs.
        replies.update(client.cmd(asked, function, arg=list(args), tgt_type="list",
                                  timeout=TIMEOUT, full_return=True))  # fmt: skip
    return replies


def _hub_id():
    """The hub's minion id (from the pillar-derived roles)."""
    hubs = _targeted("hub")
    return hubs[0] if hubs else "hub"


def reply_value(reply, expected):
    """``(ok, value)`` of one function's reply in a full_return; errors as one line.
    (A runner function for _runners/dashboard.py, which reads the same replies.)"""
    return __utils__["status_report.reply_value"](reply, expected)


def summarize(*gathered, **kwargs):
    """The report and its problems from :func:`gather`'s answers (_utils/status_report.py);
    the dashboard's snapshot words the same answers through it."""
    return __utils__["status_report.summarize"](*gathered, **kwargs)


def gather():
    """
    Ask the hub, the nodes and the proxy what :func:`summarize` reads: ``(hub_id,
    hub_replies, node_ids, node_replies, image_replies, proxy)``. The dashboard's snapshot
    (_runners/dashboard.py) reads the same answers, so the page and this report agree.
    """
    client = salt.client.get_local_client(mopts=__opts__)
    node_ids = _targeted("nodes")
    hub_id = _hub_id()
    hub_replies = {}
    if _connected([hub_id]):  # else summarize says the hub did not answer
        hub_replies = {
            function: _ask(client, [hub_id], function).get(hub_id)
            for function in __utils__["status_report.hub_functions"]()
        }
    node_replies = _ask(client, node_ids, "swarm.student_containers")
    ok, image = reply_value(hub_replies.get("jupyterhub.student_image"), str)
    image_replies = _ask(client, node_ids, "swarm.image_present", (image,)) if ok else None
    proxy_id = (_targeted("proxy") or ["proxy"])[0]
    proxy = (proxy_id, _ask(client, [proxy_id], "proxy_tls.certificate").get(proxy_id))
    return hub_id, hub_replies, node_ids, node_replies, image_replies, proxy


def status():
    """
    The cluster at a glance; exits non-zero when something needs attention.

    CLI Example:

    .. code-block:: bash

        salt-run jupyterhub.status
    """
    report, problems = summarize(*gather())
    # salt-run 3008 takes its exit code from a `retcode` key of the returned dict only;
    # __context__ marks the job in the job cache.
    report["retcode"] = 1 if problems else 0
    if problems:
        __context__["retcode"] = 1
    return report


def _set_availability(node, availability):
    """Ask the hub (the swarm manager) to set ``node``'s availability; the runner's report."""
    node_ids = _targeted("nodes")
    if node not in node_ids:
        __context__["retcode"] = 1
        return {"error": f"{node!r} is not a node (roles:nodes is {node_ids})", "retcode": 1}
    client = salt.client.get_local_client(mopts=__opts__)
    hub_id = _hub_id()
    replies = {
        function: _ask(client, [hub_id], function, args).get(hub_id)
        for function, args in (("swarm.set_availability", (node, availability)),
                               ("swarm.student_tasks", ()))
    }  # fmt: skip
    ok, changed = reply_value(replies["swarm.set_availability"], dict)
    if not ok:
        __context__["retcode"] = 1
        return {"error": f"the hub could not set {node} to {availability}: {changed}", "retcode": 1}
    ok, tasks = reply_value(replies["swarm.student_tasks"], list)
    there = sorted(t["service"] for t in tasks if t["minion"] == node) if ok else tasks
    return {"node": node, "swarm": f"{changed['state']}, {changed['availability']}",
            "servers still there": there or "none", "retcode": 0}  # fmt: skip


def drain(node):
    """
    Start no new student servers on ``node`` (swarm availability ``pause``), e.g. before
    maintenance. Servers running there keep running until their students stop them (or the
    cull does); new spawns go to the other nodes. ``undrain`` brings it back.

    CLI Example:

    .. code-block:: bash

        salt-run jupyterhub.drain node1
    """
    return _set_availability(node, "pause")


def undrain(node):
    """
    Let new student servers start on ``node`` again (swarm availability ``active``).

    CLI Example:

    .. code-block:: bash

        salt-run jupyterhub.undrain node1
    """
    return _set_availability(node, "active")
