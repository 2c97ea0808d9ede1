"""
What minions answer the status and dashboard runners' gathering, for a healthy cluster: the
hub's replies (``hub_reply``, one function's reply replaced by a keyword) and the nodes'
student containers (``NODES``), each reply as salt returns it ({"ret", "retcode"}).
"""

USERS = [{"name": "alice", "admin": False}, {"name": "labadmin", "admin": True}]
RUNNING = {"alice": {"started": "2026-11-30T10:00:00Z", "last_activity": "2026-11-30T11:00:00Z"}}
USAGE = {
    "/": {"capacity": "40%", "1K-blocks": 10 * 1024**2, "available": 6 * 1024**2},
    "/home": {"capacity": "12%", "1K-blocks": 100 * 1024**2, "available": 88 * 1024**2},
}


def hub_reply(**overrides):
    ret = {
        "jupyterhub.list_users": USERS,
        "jupyterhub.running_servers": RUNNING,
        "jupyterhub.proxy_routes": sorted(RUNNING),
        "jupyterhub.last_cull": {"time": "2026-11-30T09:00:00+00:00", "culled": {"bob": "idle"}},
        "restuser.list": [{"name": "alice"}, {"name": "bob"}],
        "backup.status": {"last_backup": "2026-11-30T11:05:00Z", "stale": False},
        "disk.usage": USAGE,
        "swarm.nodes": [
            {"minion": "hub", "role": "manager", "state": "ready", "availability": "active"},
            {"minion": "node1", "role": "worker", "state": "ready", "availability": "active"},
            {"minion": "node2", "role": "worker", "state": "ready", "availability": "active"},
        ],
        "jupyterhub.student_image": "10.0.0.10:5000/jupyterhub-deploy/singleuser:week5",
        "swarm.student_tasks": [
            {
                "service": "jupyter-alice",
                "minion": "node1",
                "node_state": "ready",
                "state": "running",
            },
        ],
    }
    replies = {function: {"ret": value, "retcode": 0} for function, value in ret.items()}
    for function, (value, code) in overrides.items():
        replies[function.replace("__", ".")] = {"ret": value, "retcode": code}
    return replies


NODES = {
    "node1": {"ret": [{"service": "jupyter-alice", "memory_bytes": 200 * 2**20,
                       "memory_limit_bytes": 2**30, "status": "running",
                       "image": "jupyterhub-deploy/singleuser:week5"}], "retcode": 0},
    "node2": {"ret": [], "retcode": 0},
}  # fmt: skip
