"""
The hub's database migrated to what the hub image's JupyterHub needs, as a state
(_modules/jupyterhub_db.py does the work): salt/hub/init.sls runs it between the image's
build and the hub container's recreation.
"""

from salt.exceptions import CommandExecutionError

__virtualname__ = "jupyterhub_db"


def __virtual__():
    if "jupyterhub_db.plan" not in __salt__:
        return False, "the jupyterhub_db execution module is not available"
    return __virtualname__


def migrated(name, image, container="jupyterhub"):
    """
    The hub database ``name`` (a sqlite file) has the schema hub image ``image``'s
    JupyterHub needs; when it has not, ``container`` is stopped, the database copied aside
    with the old version in its name and migrated (a failure puts it back and starts the
    old hub). ``test=True`` says what would happen.

    name
        The hub's sqlite file (hub:data_dir/jupyterhub.sqlite).
    image
        The hub image that will run next.
    container
        The hub's container, stopped during the migration.
    """
    ret = {"name": name, "result": True, "changes": {}, "comment": ""}
    try:
        if __opts__["test"]:
            found = __salt__["jupyterhub_db.plan"](name, image, container=container)
        else:
            found = __salt__["jupyterhub_db.upgrade"](name, image, container=container)
    except CommandExecutionError as exc:
        if __opts__["test"] and str(exc).startswith(("no image", "docker:")):
            # A new hub in test mode: the engine and image come later in the same run.
            ret.update(result=None, comment=f"{exc}: checked once the image is built")
            return ret
        ret.update(result=False, comment=str(exc))
        return ret
    ret["comment"] = found["comment"]
    if found["action"] == "refuse":
        ret["result"] = False
    elif found["action"] == "upgrade":
        new = found["new"]
        ret["changes"] = {
            "schema": {"old": new["current"], "new": new["head"]},
            "jupyterhub": {"old": found["old_version"], "new": new["jupyterhub"]},
        }
        if __opts__["test"]:
            ret["result"] = None
        else:
            ret["changes"]["copy"] = found["copy"]
    return ret
