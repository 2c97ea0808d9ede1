"""
Swarm states: the hub is the manager, nodes join it as workers, and the overlay network.

The worker's join token comes from the manager's salt mine entry ``swarm_worker_token``
(the ext_pillar's ``mine_functions`` for the hub, readable by the nodes' ids only), read
when the state runs, so a highstate of every host at once works with ``retry``.
"""

import time

__virtualname__ = "swarm"


def __virtual__():
    if "swarm.status" not in __salt__:
        return False, "the swarm execution module is not available"
    return __virtualname__


def _ret(name):
    return {"name": name, "result": True, "changes": {}, "comment": ""}


def manager(name, advertise_addr):
    """
    Make this host the swarm manager, advertising ``advertise_addr``.

    name
        A label for the state (the swarm's name).
    advertise_addr
        The address workers reach the manager on.
    """
    ret = _ret(name)
    current = __salt__["swarm.status"]()
    if current["state"] == "active" and current["manager"]:
        ret["comment"] = "this host is already a swarm manager"
    elif current["state"] != "inactive":
        ret["result"] = False
        ret["comment"] = (
            f"this host's swarm state is '{current['state']}' and it is not a manager: "
            "leave the other swarm first (docker swarm leave)"
        )
        return ret
    elif __opts__["test"]:
        ret["result"] = None
        ret["comment"] = f"would initialise a swarm advertising {advertise_addr}"
        return ret
    else:
        __salt__["swarm.init"](advertise_addr)
        ret["changes"] = {"swarm": f"initialised, advertising {advertise_addr}"}
        ret["comment"] = "swarm initialised"
    if not __opts__["test"]:
        # Publish the worker token (pillar mine_functions) now, not at the next mine interval.
        __salt__["mine.update"]()
    return ret


def worker(name, manager_id, advertise_addr):
    """
    Join the swarm managed by minion ``manager_id`` as a worker.

    name
        A label for the state.
    manager_id
        The minion id of the manager, whose mine holds the join token.
    advertise_addr
        This host's address, as the manager and other nodes reach it.
    """
    ret = _ret(name)
    if manager_id == __opts__["id"]:
        ret["comment"] = "this host is the manager itself (single-host site)"
        return ret
    current = __salt__["swarm.status"]()
    if current["state"] == "pending" and not current["manager"]:
        current = _settled(current)
    if current["state"] == "active":
        ret["comment"] = "this host is already in a swarm" + (
            " (as a manager)" if current["manager"] else ""
        )
        return ret
    stale = current["state"] in ("pending", "error") and not current["manager"]
    mine = __salt__["mine.get"](manager_id, "swarm_worker_token")
    entry = mine.get(manager_id) if isinstance(mine, dict) else None
    if not entry or not entry.get("token"):
        ret["result"] = None if __opts__["test"] else False
        ret["comment"] = (
            f"no swarm join token from '{manager_id}' in the salt mine yet: "
            "the hub's highstate must initialise the swarm first"
        )
        return ret
    managers = ", ".join(entry["managers"])
    if __opts__["test"]:
        ret["result"] = None
        ret["comment"] = f"would {'leave the stale swarm and ' if stale else ''}join {managers}"
        return ret
    if stale:
        # The manager no longer knows this node (removed while it was away, or the swarm
        # was re-created): its engine keeps retrying for ever. Leave, then join afresh.
        __salt__["swarm.leave"](force=True)
    __salt__["swarm.join"](entry["managers"], entry["token"], advertise_addr)
    again = " again (the manager had forgotten this node)" if stale else ""
    ret["changes"] = {"swarm": f"joined {managers} as a worker{again}"}
    ret["comment"] = "joined the swarm" + again
    return ret


def dead_servers_absent(name, prefix="jupyter-"):
    """
    No student server container left from before this node's engine last started (a node
    that was lost and came back: swarm's manager forgot those tasks and never removes
    their containers; see the execution module's ``swarm.dead_servers``).
    """
    ret = _ret(name)
    dead = __salt__["swarm.dead_servers"](prefix)
    if not dead:
        ret["comment"] = "no student server left from before the engine started"
        return ret
    if __opts__["test"]:
        return _ended(ret, None, f"would remove {', '.join(dead)}")
    __salt__["swarm.remove_containers"](dead)
    ret["changes"] = {"removed": dead}
    ret["comment"] = f"removed {len(dead)} server container(s) left from before the engine started"
    return ret


def _settled(current, wait=30, interval=2):
    """A worker that is only reconnecting becomes active within seconds; wait for that
    before calling it stale (leaving a swarm stops the node's tasks)."""
    deadline = time.monotonic() + wait
    while current["state"] == "pending" and time.monotonic() < deadline:
        time.sleep(interval)
        current = __salt__["swarm.status"]()
    return current


def _ended(ret, result, comment):
    ret["result"], ret["comment"] = result, comment
    return ret


def network(name, subnet, ip_range, hub_container="jupyterhub"):
    """
    The attachable overlay network ``name`` exists on ``subnet``, swarm allocating from
    ``ip_range`` (created on the manager).

    A network of another kind is reported, never removed. One on other addresses (made
    before the hub's address was fixed, issue #18) is made again when only the hub's
    container uses it (docker_container then reattaches it); while students' servers use
    it, the state fails naming them: they must be stopped first.
    """
    ret = _ret(name)
    current = __salt__["swarm_network.get"](name)
    wanted = {"driver": "overlay", "scope": "swarm", "attachable": True}
    addresses = {"subnet": subnet, "ip_range": ip_range}
    if current is not None:
        differs = {k: current[k] for k in wanted if current[k] != wanted[k]}
        if differs:
            ret["result"] = False
            ret["comment"] = (
                f"network {name} exists with {differs}, not an attachable overlay: "
                "remove it by hand once no container uses it"
            )
            return ret
        if current.get("count", 1) == 1 and all(current.get(k) == v for k, v in addresses.items()):
            ret["comment"] = f"network {name} is an attachable overlay on {subnet}"
            return ret
        users = __salt__["swarm_network.users"](name)
        others = users["services"] + [c for c in users["containers"] if c != hub_container]
        if others:
            return _ended(
                ret,
                False,
                f"network {name} is on {current.get('subnet')}, not {subnet}, and cannot be "
                f"made again while these use it: {', '.join(others)}. Stop the students' "
                "servers (hub admin page, or salt-run jupyterhub.drain on every node) and "
                "apply again.",
            )
        if __opts__["test"]:
            return _ended(ret, None, f"would make network {name} again on {subnet}")
        __salt__["swarm_network.remove"](name, users["containers"])
        __salt__["swarm_network.create"](name, subnet, ip_range)
        was = f"{current['count']} networks, " if current.get("count", 1) > 1 else ""
        ret["changes"] = {
            "network": f"{name} made again on {subnet} (was {was}{current['subnet']})"
        }
        ret["comment"] = f"network {name} made again on {subnet}"
        return ret
    if __opts__["test"]:
        ret["result"] = None
        ret["comment"] = f"would create the attachable overlay network {name}"
        return ret
    __salt__["swarm_network.create"](name, subnet, ip_range)
    ret["changes"] = {"network": f"{name} created (attachable overlay on {subnet})"}
    ret["comment"] = f"network {name} created"
    return ret
