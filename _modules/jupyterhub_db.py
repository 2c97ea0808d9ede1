"""
The hub's database across a JupyterHub upgrade, under salt's control (issue #21).

A new JupyterHub may need a newer schema. Rather than let the new container migrate at
its start (and leave a half-migrated database if it fails), salt first asks the new image
what it needs (``jupyterhub_deploy.database info`` in a throwaway container); when the
schema must move, it stops the hub (the proxy and every student's server keep running),
copies the database aside with the old JupyterHub's version in its name, and migrates it
with the new image. A failed migration puts the copy back and starts the old hub again,
so the site runs on as before and the error says what to do.

CLI Example:

.. code-block:: bash

    salt hub jupyterhub_db.plan /srv/jupyterhub/jupyterhub.sqlite registry:5000/hub:latest
"""

import datetime
import glob
import json
import os
import sqlite3

from salt.exceptions import CommandExecutionError

__virtualname__ = "jupyterhub_db"

try:
    import docker
    import docker.errors

    HAS_DOCKER = True
except ImportError:
    HAS_DOCKER = False

MOUNT = "/srv/jupyterhub"
# Beside the database: the schema each hub image asked needs (keyed by image id).
REMEMBERED = "jupyterhub-schemas.json"
VERSION = "import jupyterhub; print(jupyterhub.__version__)"


def __virtual__():
    if not HAS_DOCKER:
        return False, "jupyterhub_db needs the docker python SDK"
    return __virtualname__


def _client():
    return docker.from_env(timeout=120)


def _run(client, image, db, *command):
    """stdout of ``python3 COMMAND`` in a throwaway, offline container of ``image`` with
    the database's directory mounted; its stderr's end in the error when it fails."""
    try:
        out = client.containers.run(
            image,
            list(command),
            entrypoint=["python3"],
            volumes={os.path.dirname(db): {"bind": MOUNT, "mode": "rw"}},
            network_mode="none",
            remove=True,
            stdout=True,
            stderr=False,
        )
    except docker.errors.ContainerError as exc:
        err = (exc.stderr or b"").decode(errors="replace").strip().splitlines()
        raise CommandExecutionError("; ".join(err[-3:]) or str(exc)) from None
    except docker.errors.ImageNotFound:
        raise CommandExecutionError(f"no image {image} on this host") from None
    return out.decode().strip()


def _info(client, image, db):
    inside = f"{MOUNT}/{os.path.basename(db)}"
    out = _run(client, image, db, "-m", "jupyterhub_deploy.database", "info", inside)
    return json.loads(out.splitlines()[-1])


def _running_version(client, container, db):
    """The JupyterHub version of ``container``'s image, or None without that container."""
    try:
        current = client.containers.get(container)
    except docker.errors.NotFound:
        return None
    return _run(client, current.image.id, db, "-c", VERSION).splitlines()[-1]


def _revision(db):
    """The schema revision recorded in sqlite file ``db`` (None: no database or schema)."""
    if not os.path.exists(db):
        return None
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return conn.execute("SELECT version_num FROM alembic_version").fetchone()[0]
    except (sqlite3.OperationalError, TypeError):
        return None
    finally:
        conn.close()


def _remembered(db):
    """``{image id: {"head", "jupyterhub"}}`` of the hub images asked before."""
    try:
        with open(os.path.join(os.path.dirname(db), REMEMBERED)) as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return {}


def _remember(db, image_id, info):
    known = _remembered(db)
    known[image_id] = {"head": info["head"], "jupyterhub": info["jupyterhub"]}
    path = os.path.join(os.path.dirname(db), REMEMBERED)
    fd = os.open(f"{path}.new", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(dict(list(known.items())[-5:]), handle)
    os.replace(f"{path}.new", path)


def _runs(client, container, image):
    """Whether ``container`` is running, from ``image`` as that tag is now."""
    try:
        current = client.containers.get(container)
        return current.status == "running" and current.image.id == client.images.get(image).id
    except docker.errors.NotFound:
        return False


def plan(db, image, container="jupyterhub"):
    """
    What ``upgrade`` would do for sqlite file ``db`` and hub image ``image``:
    ``{"action": "none"|"upgrade"|"refuse", "new": <the image's info>, "old_version": the
    running hub's JupyterHub version or None, "comment": what to tell the operator}``.

    CLI Example:

    .. code-block:: bash

        salt hub jupyterhub_db.plan /srv/jupyterhub/jupyterhub.sqlite registry:5000/hub:latest
    """
    try:
        client = _client()
        image_id = client.images.get(image).id
    except docker.errors.ImageNotFound:
        raise CommandExecutionError(f"no image {image} on this host") from None
    except docker.errors.DockerException as exc:
        raise CommandExecutionError(f"docker: {exc}") from None
    if _runs(client, container, image):
        # JupyterHub refuses to run on a schema it does not know: nothing to check, only
        # (once per image) its schema to remember for a hub container made again later.
        if image_id not in _remembered(db):
            _remember(db, image_id, _info(client, image, db))
        return {
            "action": "none",
            "new": None,
            "old_version": None,
            "comment": f"{container} runs {image} already: its database has that schema",
        }
    current = _revision(db)
    known = _remembered(db).get(image_id)
    if current is None or (known and known["head"] == current):
        # The image's schema is remembered: a hub container removed and made again (or a
        # new hub) costs no throwaway container, which takes seconds on a busy hub host.
        new = {**known, "current": current, "known": True} if known else None
        what = "no database yet: the hub makes one" if current is None else (
            f"the database's schema ({current}) is the one JupyterHub {known['jupyterhub']} "
            "needs"
        )  # fmt: skip
        return {"action": "none", "new": new, "old_version": None, "comment": what}
    new = _info(client, image, db)
    _remember(db, image_id, new)
    found = {"new": new, "old_version": None}
    if new["current"] is None:
        return {**found, "action": "none", "comment": "no database yet: the hub makes one"}
    if new["current"] == new["head"]:
        return {
            **found,
            "action": "none",
            "comment": f"the database's schema ({new['current']}) is the one JupyterHub "
            f"{new['jupyterhub']} needs",
        }
    old = _running_version(client, container, db)
    found["old_version"] = old
    if not new["known"]:
        made = sorted(glob.glob(f"{db}.*.*T*Z"), key=os.path.getmtime)
        copies = made[-1] if made else f"{db}.<version>.<time>"
        return {
            **found,
            "action": "refuse",
            "comment": f"the database {db} has schema revision {new['current']}, which "
            f"JupyterHub {new['jupyterhub']} (hub:jupyterhub_version) does not know: a later "
            "JupyterHub wrote it. Nothing was changed. To go back to an older JupyterHub, "
            f"put back the copy made before the upgrade: `docker stop {container}; "
            f"cp -p {copies} {db}` (activity since then is lost), then state.apply; "
            "or set hub:jupyterhub_version to the release that wrote it",
        }
    return {
        **found,
        "action": "upgrade",
        "comment": f"would stop the hub, copy {db} to {_copy_name(db, old, '<time>')} and "
        f"migrate it from revision {new['current']} (JupyterHub {old or 'unknown'}) to "
        f"{new['head']} (JupyterHub {new['jupyterhub']})",
    }


def _copy_name(db, version, stamp):
    return f"{db}.{version or 'unknown'}.{stamp}"


def _sqlite_copy(source, dest):
    """A consistent copy of sqlite file ``source`` over ``dest`` (made 0600 first)."""
    os.close(os.open(dest, os.O_WRONLY | os.O_CREAT, 0o600))
    src, dst = sqlite3.connect(source), sqlite3.connect(dest)
    try:
        src.backup(dst)
    finally:
        src.close()
        dst.close()


def upgrade(db, image, container="jupyterhub"):
    """
    Migrate ``db`` to the schema of hub image ``image``'s JupyterHub, when it needs it:
    ``container`` (the hub) stopped, the database copied to ``<db>.<old version>.<time>``
    (root only), migrated by the new image. Returns the plan, with ``copy`` when it
    migrated. On a failed migration the copy goes back, the old hub starts again and the
    error says how to retry or stay.

    CLI Example:

    .. code-block:: bash

        salt hub jupyterhub_db.upgrade /srv/jupyterhub/jupyterhub.sqlite registry:5000/hub:latest
    """
    found = plan(db, image, container)
    if found["action"] == "refuse":
        raise CommandExecutionError(found["comment"])
    if found["action"] == "none":
        return found
    client = _client()
    new, old = found["new"], found["old_version"]
    try:
        hub = client.containers.get(container)
    except docker.errors.NotFound:
        hub = None
    if hub is not None:
        hub.stop(timeout=30)
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    copy = _copy_name(db, old, stamp)
    _sqlite_copy(db, copy)
    inside = f"{MOUNT}/{os.path.basename(db)}"
    try:
        _run(client, image, db, "-m", "jupyterhub_deploy.database", "upgrade", inside)
    except CommandExecutionError as exc:
        _sqlite_copy(copy, db)
        if hub is not None:
            hub.start()
        raise CommandExecutionError(
            f"JupyterHub {new['jupyterhub']} could not migrate {db} from revision "
            f"{new['current']}: {exc}. The database is back as it was (a copy: {copy}) and "
            f"the hub runs JupyterHub {old or 'as before'} again. Fix the cause and "
            "state.apply to retry, or set hub:jupyterhub_version back to "
            f"{old or 'the previous release'} and state.apply to stay there"
        ) from None
    return {**found, "copy": copy, "comment": f"migrated; the database before: {copy}"}
