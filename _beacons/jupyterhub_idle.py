"""
Fires an event when student servers have been idle too long, so the reactor can cull them.

Configured on the hub by the jupyterhub_deploy ext_pillar from pillar ``cull:``::

    beacons:
      jupyterhub_idle:
        - interval: 3600
        - disable_during_state_run: true

Every ``interval`` seconds it asks the hub (jupyterhub.idle_servers, timeouts from pillar
``cull:``) and, when some servers are idle, fires ``salt/beacon/<hub>/jupyterhub_idle/idle``
with their names. master.d/reactor.conf turns that into `state.apply cull` on the hub,
which asks the hub again before stopping anything.
"""

import logging

from salt.exceptions import CommandExecutionError

log = logging.getLogger(__name__)

__virtualname__ = "jupyterhub_idle"


def __virtual__():
    return __virtualname__


def validate(config):
    """The configuration is salt's usual list of one-key dicts, with nothing of our own."""
    if not isinstance(config, list):
        return False, "jupyterhub_idle: the configuration must be a list"
    known = {"interval", "disable_during_state_run", "_beacon_name", "enabled"}
    for item in config:
        if not isinstance(item, dict):
            return False, f"jupyterhub_idle: {item!r} is not a `key: value` item"
        unknown = set(item) - known
        if unknown:
            return False, f"jupyterhub_idle: unknown option(s) {', '.join(sorted(unknown))}"
    return True, "valid"


def beacon(config):
    """One event listing the idle servers, or none when there are none."""
    try:
        idle = __salt__["jupyterhub.idle_servers"]()
    except CommandExecutionError as exc:
        # The hub restarting is not an idle server; try again next interval.
        log.warning("jupyterhub_idle: cannot ask the hub: %s", exc)
        return []
    if not idle:
        return []
    return [{"tag": "idle", "servers": sorted(idle)}]
