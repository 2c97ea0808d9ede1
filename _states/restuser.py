"""
Students' system users, created through the restuser service on the hub.

Pre-creating the pillar's students gives them their uids before their first login, so
their homes and files exist ahead of class; JupyterHub still asks restuser at every spawn,
which returns the existing account unchanged.
"""

from salt.exceptions import CommandExecutionError

__virtualname__ = "restuser"


def __virtual__():
    if "restuser.create" not in __salt__:
        return False, "the restuser execution module is not available"
    return __virtualname__


def _available(wait):
    # Asked once per state run: with the service down, a class of students would
    # otherwise wait `wait` seconds each.
    if "restuser.available" not in __context__:
        __context__["restuser.available"] = __salt__["restuser.available"](wait=wait)
    return __context__["restuser.available"]


def present(name, wait=30):
    """
    The student ``name`` exists, created by restuser if missing.

    name
        The student's login name.
    wait
        Seconds to wait for the restuser socket (the service may just have started).
    """
    ret = {"name": name, "result": True, "changes": {}, "comment": ""}
    test = __opts__["test"]
    if not _available(0 if test else wait):
        if test:
            ret["result"] = None
            ret["comment"] = f"restuser is not running yet; it would create student {name}"
            ret["changes"] = {"user": {"old": None, "new": name}}
        else:
            ret["result"] = False
            ret["comment"] = (
                f"restuser is not running (no answer on its socket within {wait}s): "
                "check `systemctl status restuser`"
            )
        return ret
    try:
        current = __salt__["restuser.get"](name)
        if current is not None:
            ret["comment"] = f"student {name} exists (uid {current['uid']})"
            return ret
        if test:
            ret["result"] = None
            ret["comment"] = f"student {name} would be created by restuser"
            ret["changes"] = {"user": {"old": None, "new": name}}
            return ret
        created = __salt__["restuser.create"](name)
    except CommandExecutionError as exc:
        ret["result"] = False
        ret["comment"] = str(exc)
        return ret
    account = {key: created[key] for key in ("name", "uid", "gid", "home")}
    if created["created"]:
        ret["changes"] = {"user": {"old": None, "new": account}}
        ret["comment"] = f"student {name} created with uid {created['uid']}"
    else:
        # Created in between, by the student's first login through the hub.
        ret["comment"] = f"student {name} exists (uid {created['uid']})"
    return ret
