"""
What ``salt-run jupyterhub.status`` and the staff dashboard say, from the minions' replies
(pure functions: _runners/jupyterhub.py asks, this words the answers and finds the
problems). Runners reach it as ``__utils__["status_report.summarize"]``.
"""

# The proxy's certificate is a problem with fewer days left (certbot renews at 30).
CERTIFICATE_DAYS = 14

# Where to look when something is wrong (salt/*: what writes each of them).
LOGS = {
    "jupyterhub": "on the hub: docker logs jupyterhub",
    "the hub's proxy": "on the hub: docker logs jupyterhub-proxy",
    "a student's server": "on the hub: docker service logs jupyter-<user>",
    "restuser": "on the hub: /var/log/restuser.log and journalctl -u restuser",
    "backups": "salt-run jobs.list_jobs search_function=backup.run; then jobs.lookup_jid",
    "culling": "salt-call jupyterhub.last_cull on the hub; the reactor's jobs in salt-run jobs",
    "activity stats": "/srv/stats/db/activity.sqlite on the hub (salt hub stats.report)",
    "nginx": "on the proxy: /var/log/nginx/access.log, /var/log/nginx/error.log",
    "certificates (acme)": "on the proxy: /var/log/letsencrypt/letsencrypt.log",
    "salt": "/var/log/salt/master on the hub, /var/log/salt/minion on every host",
}

# What the hub is asked, and the type a good answer has (anything else is an error text,
# e.g. a traceback or "'backup.status' is not available").
HUB_FUNCTIONS = {
    "jupyterhub.list_users": list,
    "jupyterhub.running_servers": dict,
    "jupyterhub.proxy_routes": list,
    "jupyterhub.last_cull": (dict, type(None)),
    "restuser.list": list,
    "backup.status": dict,
    "disk.usage": dict,
    "swarm.nodes": list,
    "swarm.student_tasks": list,
    "jupyterhub.student_image": str,
}


def hub_functions():
    """The functions the hub is asked (a good reply's type is their value)."""
    return HUB_FUNCTIONS


def reply_value(reply, expected):
    """``(ok, value)`` of one function's reply in a full_return; errors as one line."""
    if reply is None:
        return False, "no answer"
    ret, retcode = reply.get("ret"), reply.get("retcode", 0)
    if isinstance(retcode, dict):
        retcode = max(retcode.values() or [0])
    if retcode or not isinstance(ret, expected):
        text = str(ret).strip().splitlines() or ["(empty)"]
        # A traceback's last line says what went wrong.
        return False, text[-1] if text[0].startswith("Traceback") else " ".join(text)
    return True, ret


def usage_of(path, usage):
    """The disk.usage entry of the filesystem holding ``path`` (longest mount prefix)."""
    best = None
    for mount in usage or {}:
        prefix = mount.rstrip("/") + "/"
        if (path + "/").startswith(prefix) and (best is None or len(mount) > len(best)):
            best = mount
    if best is None:
        return None
    entry = usage[best]
    return {
        "mount": best,
        "used": f"{entry.get('capacity', '?')} of {int(entry.get('1K-blocks', 0)) // 1024**2} GiB",
        "available_GiB": round(int(entry.get("available", 0)) / 1024**2, 1),
    }


def backup_summary(status):
    """The part of backup.status an overview needs (salt-run backup.status has the rest)."""
    if not status.get("enabled", True):
        return "disabled (backup:enabled is false)"
    failed = sorted(
        name for name, last in (status.get("last_results") or {}).items()
        if isinstance(last, dict) and not last.get("result", True)
    )  # fmt: skip
    return {
        "time": status.get("last_backup") or "none",
        "age": status.get("age_human"),
        "stale": status.get("stale"),
        "last failed": failed or "none",
        "target": status.get("target"),
    }


def short_image(reference):
    """``singleuser:week5`` of ``[host:port/]jupyterhub-deploy/singleuser:week5[@sha256:...]``."""
    return reference.split("@", 1)[0].rsplit("/", 1)[-1]


def container_line(container, student_image):
    """One student container: memory, status, image (marked when the hub spawns another)."""
    line = (
        f"{container['memory_bytes'] / 2**20:.0f} MiB of "
        f"{container['memory_limit_bytes'] / 2**20:.0f} MiB, {container['status']}"
    )
    image = container.get("image")  # a node with an older swarm module has none
    if image:
        line += f", image {short_image(image)}"
        if student_image and short_image(image) != student_image:
            line += " (older: until the server restarts)"
    return line


def swarm_summary(results, node_ids, problems):
    """
    ``({minion: "state, availability"}, {minion: [service, ...]})`` from the manager's
    view; a node of ``node_ids`` that swarm does not see as ready is added to ``problems``.
    """
    ok, swarm_nodes = results["swarm.nodes"]
    if not ok:
        problems.append(f"swarm: {swarm_nodes}")
        return swarm_nodes, {}
    swarm = {}
    for node in swarm_nodes:
        text = f"{node['state']}, {node['availability']}"
        if node["availability"] == "pause":
            text += " (drained: no new servers)"
        swarm[node["minion"]] = text
    for node in node_ids:
        state = swarm.get(node, "not in the swarm").split(",")[0]
        if state != "ready":
            problems.append(f"node {node}: swarm says {state}")
    placed = {}
    ok, tasks = results["swarm.student_tasks"]
    if ok:
        for task in tasks:
            placed.setdefault(task["minion"], []).append(task["service"])
    return swarm, placed


def image_on_nodes(image_replies, node_ids, student_image, problems):
    """``{node: "present" | "missing"}`` of the student image; a missing one is a problem."""
    held = {}
    for node in node_ids:
        ok, present = reply_value((image_replies or {}).get(node), bool)
        if not ok:
            continue  # a node that does not answer is already a problem of its own
        held[node] = "present" if present else "missing"
        if not present:
            problems.append(
                f"node {node}: does not hold the student image {student_image} "
                "(its next server pulls it; salt -N nodes state.apply images.prepull)"
            )
    return held


def certificate_summary(proxy, problems):
    """The proxy's certificate from ``proxy`` (``(minion id, reply)`` of
    ``proxy_tls.certificate``); a problem under CERTIFICATE_DAYS days left."""
    proxy_id, reply = proxy
    ok, cert = reply_value(reply, dict)
    if not ok:
        problems.append(f"the proxy's certificate ({proxy_id}): {cert}")
        return f"unknown: {cert}"
    if cert.get("acme_error"):
        problems.append(f"the proxy's certificate: {cert['acme_error']}")
    if cert["days_left"] < CERTIFICATE_DAYS:
        problems.append(
            f"the proxy's certificate for {', '.join(cert['names'])} expires in "
            f"{cert['days_left']} days ({cert['not_after']}): with proxy:tls:source acme, see "
            "/var/log/letsencrypt/letsencrypt.log on the proxy; else put a new one in the pillar"
        )
    return {
        "names": cert["names"],
        "issuer": cert["issuer"],
        "expires": cert["not_after"],
        "days left": cert["days_left"],
    }


def summarize(hub_id, hub_replies, node_ids, node_replies, image_replies=None, proxy=None):
    """
    The report and its problems (a pure function) from the hub's ``{function: reply}``,
    the nodes' ``{node: reply}`` of ``swarm.student_containers`` and, when asked, of
    ``swarm.image_present`` (``image_replies``), and the proxy's ``(minion id, reply)`` of
    ``proxy_tls.certificate`` (``proxy``), each reply a full_return ``{"ret", "retcode"}``.
    """
    problems = []
    hub = {}
    if not any(hub_replies.get(function) for function in HUB_FUNCTIONS):
        problems.append(f"the hub ({hub_id}) did not answer")
    results = {
        function: reply_value(hub_replies.get(function), expected)
        for function, expected in HUB_FUNCTIONS.items()
    }
    ok, users = results["jupyterhub.list_users"]
    ok_running, running = results["jupyterhub.running_servers"]
    if ok and ok_running:
        admins = sorted(u["name"] for u in users if u.get("admin"))
        hub["users"] = {"in the hub": len(users), "admins": admins}
        hub["running servers"] = {
            name: f"since {server.get('started')}, last active {server.get('last_activity')}"
            for name, server in sorted(running.items())
        }
    else:
        problems.append(f"the hub API: {users if not ok else running}")
    ok_routes, routed = results["jupyterhub.proxy_routes"]
    if not ok_routes:
        problems.append(f"the proxy: {routed}")
    elif ok_running and set(running) - set(routed):
        # The proxy restarted on its own (a crash): routes come back at the hub's start.
        lost = ", ".join(sorted(set(running) - set(routed)))
        problems.append(
            f"the proxy has no route to the running servers of {lost}: "
            "docker restart jupyterhub (on the hub) puts every route back"
        )
    ok, accounts = results["restuser.list"]
    if ok:
        hub.setdefault("users", {})["system accounts"] = len(accounts)
    else:
        problems.append(f"restuser: {accounts}")
    ok, cull = results["jupyterhub.last_cull"]
    if ok and cull:
        hub["last cull"] = {"time": cull["time"], "stopped": sorted(cull["culled"])}
    elif ok:
        hub["last cull"] = "never"
    else:
        problems.append(f"last cull: {cull}")
    ok, backup = results["backup.status"]
    hub["last backup"] = backup_summary(backup) if ok else backup
    if not ok:
        problems.append(f"backup: {backup}")
    elif backup.get("enabled", True) and backup.get("stale"):
        if backup.get("last_backup"):
            problems.append(f"backup: the last backup is stale ({backup.get('age_human')} old)")
        else:
            problems.append(f"backup: there is no complete backup at {backup.get('target')} yet")
    if ok:
        for function, last in sorted((backup.get("last_results") or {}).items()):
            if isinstance(last, dict) and not last.get("result", True):
                problems.append(f"backup: the last backup.{function} failed: {last.get('error')}")
    ok, usage = results["disk.usage"]
    hub["/home"] = usage_of("/home", usage) if ok else usage
    # What new servers start from; not a problem when unknown (the API check says more).
    ok, image = results["jupyterhub.student_image"]
    student_image = short_image(image) if ok else None
    hub["student image"] = student_image or f"unknown: {image}"

    swarm, placed = swarm_summary(results, node_ids, problems)
    nodes = {}
    for node in node_ids:
        ok, containers = reply_value((node_replies or {}).get(node), list)
        if not ok:
            there = placed.get(node)
            where = f" (servers there: {', '.join(there)})" if there else ""
            problems.append(f"node {node}: {containers}{where}")
            nodes[node] = f"PROBLEM: {containers}{where}"
            continue
        nodes[node] = {
            c["service"]: container_line(c, student_image) for c in containers
        } or "no student containers"
    report = {"hub": {hub_id: hub}, "nodes": nodes, "swarm": swarm}
    if proxy is not None:
        report["certificate"] = certificate_summary(proxy, problems)
    if image_replies is not None and student_image:
        report["student image on nodes"] = image_on_nodes(
            image_replies, node_ids, student_image, problems
        )
    return {
        **report,
        "logs": LOGS,
        "problems": problems or "none",
    }, problems
