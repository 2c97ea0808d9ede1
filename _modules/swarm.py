"""
Docker swarm mode for salt, on the docker SDK.

saltext-dockermod manages containers, images, networks and volumes but has no swarm
support, so this module covers what our states need: the local node's swarm state,
initialising a manager, join tokens (published to workers through the salt mine) and
joining as a worker.

The overlay network the hub and the servers share is swarm_network.py's.

Why about 400 lines: one docker SDK client per question salt asks swarm (nodes, tasks,
student containers and their leftovers), each with its operator's docstring.
"""

import datetime
import logging

from salt.exceptions import CommandExecutionError

log = logging.getLogger(__name__)

__virtualname__ = "swarm"

SWARM_PORT = 2377

try:
    import docker
    import docker.errors

    HAS_DOCKER = True
except ImportError:
    HAS_DOCKER = False


def __virtual__():
    if not HAS_DOCKER:
        return False, "the swarm module needs the docker python SDK"
    return __virtualname__


def _client():
    return docker.from_env(timeout=60)


def status():
    """
    The local engine's view of the swarm.

    Returns ``{"state": "inactive"|"pending"|"active"|"error"|"locked",
    "manager": bool, "node_id": str, "managers": ["addr:port", ...]}``.

    CLI Example:

    .. code-block:: bash

        salt node1 swarm.status
    """
    info = _client().info().get("Swarm", {})
    return {
        "state": info.get("LocalNodeState", "inactive"),
        "manager": bool(info.get("ControlAvailable")),
        "node_id": info.get("NodeID", ""),
        "managers": [m.get("Addr") for m in info.get("RemoteManagers") or []],
    }


def init(advertise_addr):
    """
    Make the local engine a swarm manager advertising ``advertise_addr``.

    The control plane listens on that address only, not on every interface.

    CLI Example:

    .. code-block:: bash

        salt hub swarm.init 10.0.0.10
    """
    node_id = _client().swarm.init(
        advertise_addr=advertise_addr, listen_addr=f"{advertise_addr}:{SWARM_PORT}"
    )
    return {"node_id": node_id, "advertise_addr": advertise_addr}


def join_token(role="worker"):
    """
    The join token for ``role`` and the manager address to join, or ``None`` when this
    engine is not a manager. The hub publishes this to the nodes through the mine.

    CLI Example:

    .. code-block:: bash

        salt hub swarm.join_token
    """
    current = status()
    if not current["manager"]:
        return None
    client = _client()
    client.swarm.reload()
    token = client.swarm.attrs["JoinTokens"]["Worker" if role == "worker" else "Manager"]
    managers = current["managers"] or []
    return {"token": token, "managers": managers}


def join(managers, token, advertise_addr):
    """
    Join the swarm of ``managers`` (a list of ``addr:port``) with ``token``.

    CLI Example:

    .. code-block:: bash

        salt node1 swarm.join '["10.0.0.10:2377"]' SWMTKN-... 10.0.0.11
    """
    _client().swarm.join(
        remote_addrs=list(managers),
        join_token=token,
        advertise_addr=advertise_addr,
        listen_addr=f"{advertise_addr}:{SWARM_PORT}",
    )
    return status()


def leave(force=False):
    """
    Leave the swarm (``force`` for the last manager).

    CLI Example:

    .. code-block:: bash

        salt node1 swarm.leave
    """
    return _client().swarm.leave(force=force)


def _minion_of(attrs):
    """The minion id of a swarm node: the ``hosts`` entry with its address, else its hostname."""
    addr = (attrs.get("Status") or {}).get("Addr")
    hostname = attrs["Description"]["Hostname"]
    hosts = __pillar__.get("hosts") or {}  # noqa: F821 - salt's loader
    for minion, address in hosts.items():
        if address == addr:
            return minion
    return hostname


def nodes():
    """
    The swarm's nodes as seen from a manager: hostname, minion id (by the ``hosts`` pillar
    address), role, state, availability, address.

    CLI Example:

    .. code-block:: bash

        salt hub swarm.nodes
    """
    result = []
    for node in _client().nodes.list():
        attrs = node.attrs
        result.append(
            {
                "hostname": attrs["Description"]["Hostname"],
                "minion": _minion_of(attrs),
                "role": attrs["Spec"]["Role"],
                "state": attrs["Status"]["State"],
                "availability": attrs["Spec"]["Availability"],
                "addr": attrs["Status"].get("Addr"),
            }
        )
    return sorted(result, key=lambda n: n["hostname"])


AVAILABILITIES = ("active", "pause", "drain")


def _find_node(client, node):
    """The swarm node that is minion ``node`` (or has that hostname); an error names it."""
    found = [n for n in client.nodes.list()
             if node in (_minion_of(n.attrs), n.attrs["Description"]["Hostname"])]  # fmt: skip
    if not found:
        known = sorted(_minion_of(n.attrs) for n in client.nodes.list())
        raise CommandExecutionError(f"{node!r} is not a node of this swarm (it has {known})")
    return found[0]


def set_availability(node, availability):
    """
    Set swarm's availability of ``node`` (a minion id or hostname), on a manager:
    ``pause`` (no new servers there; those running keep running), ``active``, or
    ``drain`` (swarm also stops what runs there). Returns the node as ``nodes`` shows it.

    CLI Example:

    .. code-block:: bash

        salt hub swarm.set_availability node1 pause
    """
    if availability not in AVAILABILITIES:
        raise CommandExecutionError(
            f"availability {availability!r} is not one of {', '.join(AVAILABILITIES)}"
        )
    client = _client()
    found = _find_node(client, node)
    spec = dict(found.attrs["Spec"], Availability=availability)
    found.update(spec)
    found.reload()
    return next(n for n in nodes() if n["hostname"] == found.attrs["Description"]["Hostname"])


def student_tasks(prefix="jupyter-"):
    """
    Where swarm wants each student's server to run, as a manager sees it, whether or not
    that node still answers: ``[{"service", "minion", "node_state", "state"}]``.

    CLI Example:

    .. code-block:: bash

        salt hub swarm.student_tasks
    """
    api = _client().api
    services = {s["ID"]: s["Spec"]["Name"] for s in api.services()}
    node_attrs = {n["ID"]: n for n in api.nodes()}
    result = []
    for task in api.tasks(filters={"desired-state": "running"}):
        service = services.get(task.get("ServiceID"), "")
        if not service.startswith(prefix):
            continue
        node = node_attrs.get(task.get("NodeID"))
        result.append(
            {
                "service": service,
                "minion": _minion_of(node) if node else "no node",
                "node_state": node["Status"]["State"] if node else "unknown",
                "state": (task.get("Status") or {}).get("State", "unknown"),
            }
        )
    return sorted(result, key=lambda t: t["service"])


# Swarm's label on every task container: the service it belongs to (jupyter-<user>).
SERVICE_LABEL = "com.docker.swarm.service.name"


def memory_of(stats):
    """``(used, limit)`` bytes from a container's one-shot stats, as `docker stats` counts."""
    memory = stats.get("memory_stats") or {}
    usage = memory.get("usage") or 0
    # cgroup v2 reports inactive_file, v1 total_inactive_file: page cache, not the student's.
    inner = memory.get("stats") or {}
    cache = inner.get("inactive_file", inner.get("total_inactive_file", 0))
    return max(usage - cache, 0), memory.get("limit") or 0


def image_of(reference):
    """
    The image a container was created from, as staff name it: ``Config.Image`` without the
    registry host and the digest. A swarm task's is ``host:port/repo/name:tag@sha256:...``,
    which gives ``repo/name:tag``.
    """
    name = (reference or "").split("@", 1)[0]
    first, _, rest = name.partition("/")
    # Docker's rule: a first component with a dot or a port, or localhost, is a registry.
    if rest and ("." in first or ":" in first or first == "localhost"):
        return rest
    return name


def student_containers(prefix="jupyter-"):
    """
    The students' server containers running on this host, with their memory and image:
    ``[{"service", "container", "status", "memory_bytes", "memory_limit_bytes", "image"}]``
    (``image`` as :func:`image_of` gives it, e.g. ``jupyterhub-deploy/singleuser:week5``).

    CLI Example:

    .. code-block:: bash

        salt -N nodes swarm.student_containers
    """
    result = []
    for container in _client().containers.list(filters={"label": SERVICE_LABEL}):
        service = container.labels.get(SERVICE_LABEL, "")
        if not service.startswith(prefix):
            continue
        used, limit = memory_of(container.stats(stream=False))
        result.append(
            {
                "service": service,
                "container": container.name,
                "status": container.status,
                "memory_bytes": used,
                "memory_limit_bytes": limit,
                "image": image_of((container.attrs.get("Config") or {}).get("Image")),
            }
        )
    return sorted(result, key=lambda c: c["service"])


def _engine_started():
    """When this host's docker engine started (epoch seconds, from systemd); None when it
    never started (a new host: docker is installed by this very highstate)."""
    out = __salt__["cmd.run_stdout"](
        ["systemctl", "show", "--timestamp=unix", "-P", "ActiveEnterTimestamp", "docker"],
        python_shell=False,
        ignore_retcode=True,
    ).strip()
    return float(out[1:]) if out.startswith("@") else None


def _finished_at(container):
    """``State.FinishedAt`` as epoch seconds (docker gives nanoseconds; Python takes micro)."""
    text = (container.attrs.get("State") or {}).get("FinishedAt") or ""
    stamp, _, fraction = text.rstrip("Z").partition(".")
    try:
        when = datetime.datetime.fromisoformat(stamp).replace(tzinfo=datetime.UTC)
    except ValueError:
        return None
    return when.timestamp() + float(f"0.{fraction[:6] or 0}")


def dead_servers(prefix="jupyter-"):
    """
    Student server containers on this host that stopped before its docker engine last
    started: a node that was lost (powered off, engine killed) keeps them, and swarm, whose
    manager has forgotten their tasks meanwhile, never removes them. Swarm never restarts
    a stopped task's container, so these are of no use; one stopped while the engine ran
    is left to swarm (its logs explain a failed start).

    CLI Example:

    .. code-block:: bash

        salt -N nodes swarm.dead_servers
    """
    started = _engine_started()
    if started is None:
        return []
    dead = []
    for container in _client().containers.list(
        all=True, filters={"label": SERVICE_LABEL, "status": "exited"}
    ):
        if not container.labels.get(SERVICE_LABEL, "").startswith(prefix):
            continue
        finished = _finished_at(container)
        if finished is not None and finished < started:
            dead.append(container.name)
    return sorted(dead)


def remove_containers(names):
    """Remove the (stopped) containers ``names``; one already gone is no error."""
    client = _client()
    for name in names:
        try:
            client.containers.get(name).remove()
        except docker.errors.NotFound:
            pass


def image_present(reference):
    """
    Whether this host's engine holds image ``reference`` (the full name the hub spawns,
    ``host:port/jupyterhub-deploy/singleuser:week5@sha256:...``: that digest): a node
    without it pulls it at its next student's start, which is slow at class start
    (salt -N nodes state.apply images.prepull).

    CLI Example:

    .. code-block:: bash

        salt -N nodes swarm.image_present 172.30.77.10:5000/jupyterhub-deploy/singleuser:current
    """
    name, _, digest = reference.partition("@")
    if digest:
        # The hub spawns name:tag@digest: this host must hold that digest, whatever the tag.
        first, _, rest = name.rpartition("/")
        name = f"{first}/{rest.split(':', 1)[0]}@{digest}" if first else f"{name}@{digest}"
    try:
        _client().images.get(name)
    except docker.errors.ImageNotFound:
        return False
    return True
