"""
The site configuration: defaults, validation and roles, computed on the master.

Configured in ``master.d/extensions.conf``::

    ext_pillar:
      - jupyterhub_deploy:
          defaults_dir: /srv/jupyterhub-deploy/salt

For every minion it

1. merges each ``<defaults_dir>/<concern>/defaults.yaml`` under the site pillar,
2. validates the result (each value against its default's type and the ``rules.yaml``
   beside that defaults.yaml, then the whole site) and raises :class:`PillarError` naming
   every bad key (salt then refuses to apply anything: the pillar has ``_errors``),
3. normalises durations to seconds and adds ``minion_roles``, the roles the site's
   ``roles`` section gives this minion id, ``registry:address``, ``images:names`` (and
   ``images:singleuser_tag`` resolved) and the hub's beacon (:func:`salt_settings`).
   With ``backup:target_host`` that minion gets the role ``backup_target`` and the hub an
   sftp ``backup:target`` on it.

States read the merged values straight from ``pillar``; no ``map.jinja`` is needed.

This file merges and derives; the checks (per key, whole site, secrets) are in
``_jupyterhub_deploy_checks.py`` next to it, loaded by path (:func:`_load_checks`), and the
siblings it loads (``_jupyterhub_deploy_checks_<concern>.py``).
"""

import copy
import importlib.util
import ipaddress
import os
import sys
import typing

import yaml

__virtualname__ = "jupyterhub_deploy"


def _load_checks():
    """
    ``_jupyterhub_deploy_checks.py`` from this file's directory, by its path. Salt's loader
    imports this file as ``salt.loaded.ext.pillar.jupyterhub_deploy``, whose parent is no
    package on disk, so a relative import cannot find it; and the loader skips files whose
    name starts with "_", so the checks are not an ext_pillar of their own. Run again each
    time this file is, so the two never come from different versions. Registered in
    ``sys.modules`` under its name before it runs: the siblings it loads per concern
    (its ``load_sibling``) import what they share from it by that name.
    """
    here = os.path.dirname(os.path.abspath(__file__))
    path = os.path.join(here, "_jupyterhub_deploy_checks.py")
    spec = importlib.util.spec_from_file_location("_jupyterhub_deploy_checks", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


_checks = _load_checks()
# Names other code and the tests read from this module.
USERNAME_RE = _checks.USERNAME_RE
parse_duration = _checks.parse_duration
is_safe_username = _checks.is_safe_username

# Top-level pillar keys that salt itself reads; they are not ours to validate.
SALT_KEYS = {
    "beacons",
    "schedule",
    "mine_functions",
    "docker.compare_container_networks",
    "_errors",
}

# The site's host list and role assignment (no defaults: every site names its hosts).
SITE_KEYS = {"hosts", "roles"}

# Keys added here; a site must not set them.
COMPUTED_KEYS = {"minion_roles"}

ROLES = ("proxy", "hub", "node")


class PillarError(Exception):
    """The site pillar is invalid; the message lists every problem, one per line."""


def ext_pillar(minion_id, pillar, defaults_dir):
    """Salt's entry point: the merged, validated configuration for ``minion_id``."""
    master_groups = __opts__.get("nodegroups") if "__opts__" in globals() else None
    return build(minion_id, pillar, load_defaults(defaults_dir), master_groups)


def nodegroups(config):
    """
    The master's nodegroups: each role's minion ids from the site's ``roles`` (and
    ``backup:target_host``), as lists. Salt matches a list by minion id, which a minion
    cannot change; never by the pillar the master caches, which a minion's
    ``pillar_override`` can (issue #18). script/bootstrap --master writes them to the
    master's config (``script/nodegroups``).
    """
    roles = config["roles"]
    target = (config.get("backup") or {}).get("target_host")
    return {
        "proxy": [roles["proxy"]],
        "hub": [roles["hub"]],
        "nodes": list(roles["nodes"]),
        "backup_target": [target] if target else [],
    }


class Defaults(typing.NamedTuple):
    """Every concern's defaults: ``values`` (section -> mapping) and ``rules``."""

    values: dict
    # "section:key" -> what its value must be beyond the type of its default: ``kind``
    # (duration, size, str, int, float, bool, list, map), ``nullable``, ``min``,
    # ``choices``, ``pattern`` (compiled, with ``what``: _checks.PATTERNS),
    # ``add_to_default`` (a site's list adds to the default's).
    rules: dict


def load_defaults(defaults_dir):
    """Every ``<defaults_dir>/<concern>/defaults.yaml``, with the ``rules.yaml`` beside it."""
    values, rules = {}, {}
    for concern in sorted(os.listdir(defaults_dir)):
        folder = os.path.join(defaults_dir, concern)
        path = os.path.join(folder, "defaults.yaml")
        if not os.path.isfile(path):
            continue
        data = _read_yaml(path)
        for section in data:
            if section in values:
                raise PillarError(f"{path}: section '{section}' already has defaults elsewhere")
        values.update(data)
        rules_path = os.path.join(folder, "rules.yaml")
        if os.path.isfile(rules_path):
            for key, rule in _read_yaml(rules_path).items():
                parent, _, leaf = key.rpartition(":")
                if leaf not in (_checks.get(data, parent) or {}):
                    raise PillarError(f"{rules_path}: '{key}' is not a key of {path}")
                rules[key] = _checks.compile_rule(rules_path, key, rule)
    return Defaults(values, rules)


def _read_yaml(path):
    with open(path, encoding="utf-8") as handle:
        return yaml.safe_load(handle) or {}


def build(minion_id, pillar, defaults, master_groups=None):
    """
    Merge, validate and normalise; raise PillarError listing every problem.
    ``master_groups``: the master's nodegroups, which must be the site's (None: not checked).
    """
    errors = []
    site = {k: v for k, v in pillar.items() if k not in SALT_KEYS}
    merged = _check_and_merge(defaults, site, errors)
    if not errors:
        _checks.check_site(merged, errors)
    if not errors and master_groups is not None:
        _check_nodegroups(master_groups, nodegroups(merged), errors)
    roles = roles_of(minion_id, merged) if not errors else []
    if not errors:
        _checks.check_secrets(minion_id, roles, merged, errors)
    if errors:
        raise PillarError("invalid site pillar:\n" + "\n".join(f"- {e}" for e in errors))
    _normalise(merged, defaults.rules)
    merged["minion_roles"] = roles
    _add_image_names(merged)
    _add_containment(merged)
    _add_proxy_api(merged)
    merged.update(salt_settings(roles, merged))
    _add_backup_target(roles, merged)
    return merged


def _check_nodegroups(master_groups, wanted, errors):
    """The master targets by the nodegroups it started with: they must follow the site."""
    have = {name: master_groups.get(name) for name in wanted}
    if have != wanted:
        errors.append(
            f"the salt master's nodegroups {have} are not the site's roles {wanted}: run "
            "script/bootstrap --master again on the hub (it writes them from site.sls and "
            "restarts the master)"
        )


def _add_image_names(config):
    """
    ``registry:address`` (pulls), ``registry:push_address`` (the hub's pushes, on its
    loopback), ``images:names`` (hub, proxy, singleuser: where our images live) and
    ``images:singleuser_tag`` resolved (null: ``images:tag``), so states need no such rule.
    """
    hub_address = config["hosts"][config["roles"]["hub"]]
    registry = config["registry"]["address"] = f"{hub_address}:{config['registry']['port']}"
    config["registry"]["push_address"] = f"127.0.0.1:{config['registry']['push_port']}"
    images = config["images"]
    if images["singleuser_tag"] is None:
        images["singleuser_tag"] = images["tag"]
    tags = {"hub": images["tag"], "proxy": images["tag"], "singleuser": images["singleuser_tag"]}
    images["names"] = {
        which: f"{registry}/{images['repository']}/{which}:{tag}" for which, tag in tags.items()
    }


def _add_containment(config):
    """``swarm:containment_blocked``: the addresses student containers may not reach at all
    (the hub's and the nodes'), ``swarm:containment_allow`` as networks
    (salt/swarm/containment.sls), the overlay's ``overlay_ip_range`` and the hub's
    ``hub_overlay_address`` on it."""
    roles, hosts, swarm = config["roles"], config["hosts"], config["swarm"]
    blocked = [hosts[roles["hub"]]] + [hosts[node] for node in roles["nodes"]]
    swarm["containment_blocked"] = sorted(set(blocked))
    swarm["containment_allow"] = [
        str(ipaddress.ip_network(str(entry), strict=False)) for entry in swarm["containment_allow"]
    ]
    # The overlay: swarm allocates from its upper half only; the hub's address is fixed in
    # the lower (swarm:overlay_subnet's comment says why).
    subnet = ipaddress.IPv4Network(swarm["overlay_subnet"])
    swarm["overlay_ip_range"] = str(list(subnet.subnets(prefixlen_diff=1))[1])
    swarm["hub_overlay_address"] = str(subnet[2])


def _add_proxy_api(config):
    """``hub:proxy_api_gateway``, ``hub:proxy_api_address`` and ``hub:proxy_api_hub_address``:
    the host's, the proxy's and the hub's addresses on hub:proxy_api_subnet."""
    api = ipaddress.IPv4Network(config["hub"]["proxy_api_subnet"])
    config["hub"]["proxy_api_gateway"] = str(api[1])
    config["hub"]["proxy_api_address"] = str(api[2])
    config["hub"]["proxy_api_hub_address"] = str(api[3])


def salt_settings(roles, config):
    """
    Salt's own pillar keys that follow from the site, for the hub: the swarm worker token
    in the mine, readable by the nodes' minion ids only (salt/swarm/worker.sls), and the
    idle-server beacon.
    """
    if "hub" not in roles:
        return {}
    token = [
        {"mine_function": "swarm.join_token"},
        {"allow_tgt": config["roles"]["nodes"]},
        {"allow_tgt_type": "list"},
    ]
    settings = {"mine_functions": {"swarm_worker_token": token}}
    if config["cull"]["enabled"]:
        # _beacons/jupyterhub_idle.py; it reads the cull: timeouts through the pillar itself.
        beacon = [{"interval": config["cull"]["interval"]}, {"disable_during_state_run": True}]
        settings["beacons"] = {"jupyterhub_idle": beacon}
    return settings


def _add_backup_target(roles, config):
    """
    With ``backup:target_host``: the sftp ``backup:target`` on it for the hub (unless
    secrets/hub.sls set one), and on that host the mine function that publishes its ssh
    host keys to the hub.
    """
    backup = config["backup"]
    host = backup["target_host"]
    if host is None:
        return
    if not backup["target"] and "hub" in roles:
        address = str(config["hosts"][host])
        if ":" in address:
            address = f"[{address}]"
        backup["target"] = f"sftp://{backup['target_user']}@{address}/{backup['target_dir']}/home"
    if "backup_target" in roles:
        # Public keys only; the hub's backup module writes its known_hosts from them.
        config.setdefault("mine_functions", {})["backup_host_keys"] = [
            {"mine_function": "backup.host_keys"}
        ]


def roles_of(minion_id, config):
    """The roles the site's `roles` section gives a minion id."""
    roles = config["roles"]
    found = []
    if roles.get("proxy") == minion_id:
        found.append("proxy")
    if roles.get("hub") == minion_id:
        found.append("hub")
    if minion_id in roles.get("nodes", []):
        found.append("node")
    if config["backup"]["target_host"] == minion_id:
        found.append("backup_target")
    return found


# --- merging, with the per-key checks ----------------------------------------------------


def _check_and_merge(defaults, site, errors):
    known = set(defaults.values) | SITE_KEYS
    merged = copy.deepcopy(defaults.values)
    for key, value in site.items():
        if key in COMPUTED_KEYS:
            errors.append(f"'{key}' is computed by the master; remove it from the site pillar")
        elif key not in known:
            errors.append(_checks.unknown(key, known))
        elif key in SITE_KEYS:
            merged[key] = value
        else:
            merged[key] = _merge_value(key, defaults.values[key], value, errors, defaults.rules)
    for key in sorted(SITE_KEYS - set(site)):
        errors.append(f"'{key}' is missing: the site pillar must name its hosts and roles")
    return merged


def _merge_value(path, default, value, errors, rules):
    spec = rules.get(path)
    if spec is None and isinstance(default, dict):
        if not isinstance(value, dict):
            errors.append(f"'{path}' must be a mapping, got {type(value).__name__}")
            return default
        result = copy.deepcopy(default)
        for key, sub in value.items():
            sub_path = f"{path}:{key}"
            if key not in default:
                errors.append(_checks.unknown(sub_path, [f"{path}:{k}" for k in default]))
                continue
            result[key] = _merge_value(sub_path, default[key], sub, errors, rules)
        return result
    problem = _checks.type_problem(spec or {"kind": _checks.kind_of(default)}, value)
    if problem:
        errors.append(f"'{path}' {problem}")
        return default
    if spec and spec.get("add_to_default"):
        return default + [item for item in value if item not in default]
    return value


def _normalise(config, rules):
    """Durations become seconds, so states and modules never parse units."""
    for path, spec in rules.items():
        if spec["kind"] == "duration":
            section, _, key = path.rpartition(":")
            parent = _checks.get(config, section)
            parent[key] = parse_duration(parent[key])
