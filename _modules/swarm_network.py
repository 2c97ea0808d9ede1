"""
The swarm's overlay network for salt, on the docker SDK: the attachable network the hub's
container and every student's server share (salt/swarm/manager.sls, through the
``swarm.network`` state), its users, and its removal when its subnet must change.
"""

import time

from salt.exceptions import CommandExecutionError

__virtualname__ = "swarm_network"

try:
    import docker
    import docker.types

    HAS_DOCKER = True
except ImportError:
    HAS_DOCKER = False


def __virtual__():
    if not HAS_DOCKER:
        return False, "the swarm_network module needs the docker python SDK"
    return __virtualname__


def _client():
    return docker.from_env(timeout=60)


def _named(name):
    """Every network called exactly ``name``: swarm lets two share a name, e.g. while the
    removal of one spreads and another is created."""
    return [net for net in _client().networks.list(names=[name]) if net.name == name]


def get(name):
    """
    The swarm network ``name`` (driver, scope, attachable, subnet, ip_range, and how many
    networks have that name), or ``None`` when it is missing.

    CLI Example:

    .. code-block:: bash

        salt hub swarm_network.get jupyterhub
    """
    found = _named(name)
    if not found:
        return None
    attrs = _client().api.inspect_network(found[0].id)
    pools = (attrs.get("IPAM") or {}).get("Config") or [{}]
    return {
        "name": attrs["Name"],
        "driver": attrs["Driver"],
        "scope": attrs["Scope"],
        "attachable": bool(attrs.get("Attachable")),
        "subnet": pools[0].get("Subnet"),
        "ip_range": pools[0].get("IPRange"),
        "count": len(found),
    }


def create(name, subnet, ip_range):
    """
    Create the attachable overlay network ``name``, shared by the hub's container and the
    student servers, on ``subnet``; swarm allocates addresses from ``ip_range`` only.

    CLI Example:

    .. code-block:: bash

        salt hub swarm_network.create jupyterhub 10.213.0.0/16 10.213.128.0/17
    """
    ipam = docker.types.IPAMConfig(
        pool_configs=[docker.types.IPAMPool(subnet=subnet, iprange=ip_range)]
    )
    _client().networks.create(name, driver="overlay", attachable=True, scope="swarm", ipam=ipam)
    return get(name)


def users(name):
    """
    What uses the network ``name``: the swarm services attached to it, and this host's
    containers (``{"services": [...], "containers": [...]}``), or ``None`` without it.

    CLI Example:

    .. code-block:: bash

        salt hub swarm_network.users jupyterhub
    """
    client = _client()
    nets = [client.api.inspect_network(net.id) for net in _named(name)]
    if not nets:
        return None
    ids = {net["Id"] for net in nets} | {name}
    services = [
        service.name
        for service in client.services.list()
        if any(
            attached.get("Target") in ids
            for attached in service.attrs["Spec"].get("TaskTemplate", {}).get("Networks", [])
        )
    ]
    containers = {c["Name"] for net in nets for c in (net.get("Containers") or {}).values()}
    return {
        "services": sorted(services),
        "containers": sorted(c for c in containers if not c.endswith("-endpoint")),
    }


def remove(name, disconnect=(), wait=60):
    """
    Remove every network called ``name`` after disconnecting this host's containers
    ``disconnect``, and wait (up to ``wait`` seconds) until swarm no longer lists one.

    CLI Example:

    .. code-block:: bash

        salt hub swarm_network.remove jupyterhub disconnect='[jupyterhub]'
    """
    for net in _named(name):
        inspected = _client().api.inspect_network(net.id)
        attached = {c["Name"] for c in (inspected.get("Containers") or {}).values()}
        for container in set(disconnect) & attached:
            net.disconnect(container, force=True)
        net.remove()
    deadline = time.monotonic() + wait
    while _named(name):
        if time.monotonic() > deadline:
            raise CommandExecutionError(f"network {name} is still listed {wait}s after removal")
        time.sleep(0.5)
    return True
