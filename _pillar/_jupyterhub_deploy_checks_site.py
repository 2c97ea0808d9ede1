"""
The site-wide checks of the jupyterhub_deploy ext_pillar that are about the site's own
layout: hosts and roles, users and their uids, the swarm's networks, culling, the
dashboard and the images' CA certificates. ``_jupyterhub_deploy_checks.py`` loads this
file (its name starts with "_", so salt's loader never offers it as an ext_pillar) and
calls each check from its ``check_site``.
"""

import ipaddress

from _jupyterhub_deploy_checks import (
    SAFE_PATH_RE,
    USERNAME_RE,
    check_shell_safe,
    is_safe_username,
    parse_duration,
    unknown,
)

# Uids from here up belong to systemd's dynamic users and to nobody.
DYNAMIC_UID_MIN = 61184


def check_hosts(config, errors):
    hosts, roles = config["hosts"], config["roles"]
    if not isinstance(hosts, dict) or not hosts:
        errors.append("'hosts' must map every minion id to its address")
        return
    for minion, address in hosts.items():
        try:
            ipaddress.ip_address(str(address))
        except ValueError:
            errors.append(f"'hosts:{minion}' must be an IP address, got {address!r}")
    if not isinstance(roles, dict):
        errors.append("'roles' must be a mapping of proxy, hub and nodes")
        return
    for key in roles:
        if key not in ("proxy", "hub", "nodes"):
            errors.append(unknown(f"roles:{key}", ["roles:proxy", "roles:hub", "roles:nodes"]))
    for key in ("proxy", "hub"):
        if not isinstance(roles.get(key), str):
            errors.append(f"'roles:{key}' must be one minion id")
        elif roles[key] not in hosts:
            errors.append(f"'roles:{key}' names '{roles[key]}', which is not in 'hosts'")
    nodes = roles.get("nodes")
    if not isinstance(nodes, list) or not nodes:
        errors.append("'roles:nodes' must list at least one minion id")
        return
    for node in nodes:
        if node not in hosts:
            errors.append(f"'roles:nodes' names '{node}', which is not in 'hosts'")
    if len(set(nodes)) != len(nodes):
        errors.append("'roles:nodes' lists a minion id twice")


def check_users(users, errors):
    low, high = users["student_uid_min"], users["student_uid_max"]
    if not 1000 <= low < high:
        errors.append("'users:student_uid_min' must be at least 1000 and below student_uid_max")
    if high >= DYNAMIC_UID_MIN:
        errors.append(
            f"'users:student_uid_max' {high} reaches {DYNAMIC_UID_MIN}-65535: systemd's dynamic "
            "users and nobody (65534) live there; keep students below"
        )
    reserved = set(users["reserved_names"])
    if "root" not in reserved:
        errors.append("'users:reserved_names' must keep root (add names, never remove them)")
    for name in users["reserved_names"]:
        if not isinstance(name, str) or not USERNAME_RE.fullmatch(name):
            errors.append(f"'users:reserved_names': {name!r} is not a user name")
    uids = {}
    for name, account in users["staff"].items():
        path = f"users:staff:{name}"
        if not is_safe_username(name, reserved):
            errors.append(
                f"'{path}': unsafe user name {name!r} (need {USERNAME_RE.pattern}, "
                "not a system account)"
            )
        if not isinstance(account, dict) or not isinstance(account.get("uid"), int):
            errors.append(f"'{path}:uid' must be set to an integer uid")
            continue
        for key in account:
            if key not in ("uid", "admin", "ssh_keys"):
                errors.append(
                    unknown(f"{path}:{key}", [f"{path}:{k}" for k in ("uid", "admin", "ssh_keys")])
                )
        uid = account["uid"]
        if uid in uids:
            errors.append(f"'{path}:uid' {uid} is also the uid of '{uids[uid]}'")
        uids[uid] = name
        if low <= uid <= high:
            errors.append(f"'{path}:uid' {uid} lies in the student uid range {low}-{high}")
        if uid < 1000:
            errors.append(f"'{path}:uid' {uid} is a system uid (below 1000)")
    seen = set()
    for name in users["students"]:
        if not is_safe_username(name, reserved):
            errors.append(
                f"'users:students': unsafe user name {name!r} "
                f"(need {USERNAME_RE.pattern}, not a system account)"
            )
        elif name in users["staff"] or name in seen:
            errors.append(f"'users:students': {name!r} is listed twice (students or staff)")
        seen.add(name)


def check_ca_certs(pems, errors):
    if not isinstance(pems, list):
        return  # reported as a wrong type
    for index, pem in enumerate(pems):
        name = f"images:extra_ca_certs[{index}]"
        check_shell_safe(name, pem, SAFE_PATH_RE, "an absolute plain path", errors)


def check_cull(config, errors):
    """A server in use reports activity every hub:activity_interval: a shorter timeout
    would stop servers students are working in."""
    cull, hub = config["cull"], config["hub"]
    try:
        timeout = parse_duration(cull["timeout"])
        interval = parse_duration(hub["activity_interval"])
    except ValueError:
        return  # already reported as a bad duration
    if cull["enabled"] and timeout < 2 * interval:
        errors.append(
            f"'cull:timeout' ({cull['timeout']}) must be at least twice "
            f"'hub:activity_interval' ({hub['activity_interval']}): activity is only recorded "
            "that often, so servers in use would look idle and be stopped"
        )


def check_dashboard(config, errors):
    """Its staff are staff; its account is a system uid of its own, off every port in use."""
    board, users = config["dashboard"], config["users"]
    for name in board["staff"]:
        if not isinstance(name, str) or name not in users["staff"]:
            errors.append(f"'dashboard:staff' names {name!r}, who is not in 'users:staff'")
    uid = board["uid"]
    if isinstance(uid, int) and not 100 <= uid < 1000:
        errors.append(f"'dashboard:uid' {uid} must be a system uid (100-999)")
    taken = {config["hub"]["port"]: "hub:port", config["hub"]["api_port"]: "hub:api_port",
             config["registry"]["port"]: "registry:port"}  # fmt: skip
    if board["port"] in taken:
        errors.append(f"'dashboard:port' {board['port']} is also '{taken[board['port']]}'")


def check_containment_allow(allow, errors):
    for entry in allow:
        try:
            ipaddress.ip_network(str(entry), strict=False)
        except ValueError:
            errors.append(
                f"'swarm:containment_allow': {entry!r} is not an address or network "
                "(10.20.0.5, 10.20.0.0/24, 2001:db8::/64)"
            )


def check_overlay_subnet(config, errors):
    try:
        subnet = ipaddress.IPv4Network(str(config["swarm"]["overlay_subnet"]))
    except ValueError:
        errors.append("'swarm:overlay_subnet' must be an IPv4 network like 10.213.0.0/16")
        return
    if subnet.prefixlen > 22:
        errors.append("'swarm:overlay_subnet' needs at least a /22 (a class's servers)")
    _check_no_host_in("'swarm:overlay_subnet'", subnet, config, errors)


def _check_no_host_in(key, subnet, config, errors):
    hosts = config["hosts"] if isinstance(config["hosts"], dict) else {}
    for name, address in hosts.items():
        try:
            inside = ipaddress.ip_address(str(address)) in subnet
        except ValueError:
            continue  # reported by the host checks
        if inside:
            errors.append(f"{key} {subnet} contains host {name} ({address})")


def check_proxy_api_subnet(config, errors):
    key = "'hub:proxy_api_subnet'"
    try:
        subnet = ipaddress.IPv4Network(str(config["hub"]["proxy_api_subnet"]))
    except ValueError:
        errors.append(f"{key} must be an IPv4 network like 10.214.0.0/29")
        return
    if subnet.num_addresses < 8:
        errors.append(f"{key} needs at least a /29 (the gateway, the proxy and the hub)")
    try:
        overlay = ipaddress.IPv4Network(str(config["swarm"]["overlay_subnet"]))
    except ValueError:
        overlay = None  # reported by its own check
    if overlay and subnet.overlaps(overlay):
        errors.append(f"{key} {subnet} overlaps 'swarm:overlay_subnet' {overlay}")
    _check_no_host_in(key, subnet, config, errors)
