"""
Student servers on the hub, as salt states.

``jupyterhub.idle_culled`` is what `state.apply cull` runs, whether by hand or from the
reactor when the idle beacon fires. It asks the hub itself which servers are idle: the
beacon's event comes from a minion and is only the trigger, never the list.
"""

from salt.exceptions import CommandExecutionError

__virtualname__ = "jupyterhub"


def __virtual__():
    if "jupyterhub.cull" not in __salt__:
        return False, "the jupyterhub execution module is not available"
    return __virtualname__


def idle_culled(name, timeout=None, max_age=None, exempt_admins=None, concurrency=10):
    """
    No student server is idle longer than ``timeout`` seconds or older than ``max_age``
    (0: no limit); the ones that are get stopped, each reported as a change. Unset
    options come from pillar ``cull:``. ``test=True`` lists what would be stopped.

    name
        A label for the state.
    timeout
        Seconds without activity after which a server is stopped.
    max_age
        Seconds after which a server is stopped even when active; 0 for never.
    exempt_admins
        Never stop admins' servers.
    concurrency
        Servers stopped at once.
    """
    ret = {"name": name, "result": True, "changes": {}, "comment": ""}
    test = __opts__["test"]
    try:
        outcome = __salt__["jupyterhub.cull"](
            timeout=timeout, max_age=max_age, exempt_admins=exempt_admins, test=test,
            concurrency=concurrency,
        )  # fmt: skip
    except CommandExecutionError as exc:
        # The hub down or refusing the token: the client's message says which, no traceback.
        ret["result"] = False
        ret["comment"] = str(exc)
        return ret
    culled = outcome["culled"]
    if not culled:
        ret["comment"] = "no server is idle"
        return ret
    if test:
        ret["result"] = None
        ret["changes"] = {
            user: {"old": reason, "new": "stopped"} for user, reason in culled.items()
        }
        ret["comment"] = f"{len(culled)} idle server(s) would be stopped"
        return ret
    failed = []
    for user, reason in sorted(culled.items()):
        result = outcome["results"].get(user, "")
        if result == "stopped":
            ret["changes"][user] = {"old": reason, "new": "stopped"}
        elif result.startswith("failed"):
            failed.append(f"{user}: {result}")
    stopped = len(ret["changes"])
    ret["comment"] = f"stopped {stopped} idle server(s)"
    if failed:
        ret["result"] = False
        ret["comment"] += "; could not stop " + "; ".join(failed)
    return ret
