"""
The site configuration: defaults, validation and roles, computed on the master.

Configured in ``master.d/extensions.conf``::

    ext_pillar:
      - jupyterhub_deploy:
          defaults_dir: /srv/jupyterhub-deploy/salt

For every minion it

1. merges each ``<defaults_dir>/<concern>/defaults.yaml`` under the site pillar,
2. validates the result and raises :class:`PillarError` naming every bad key
   (salt then refuses to apply anything: the pillar has ``_errors``),
3. normalises durations to seconds and adds ``minion_roles``, the roles the site's
   ``roles`` section gives this minion id, ``registry:address``, ``images:names`` (and
   ``images:singleuser_tag`` resolved) and the hub's beacon (:func:`salt_settings`).
   With ``backup:target_host`` that minion gets the role ``backup_target`` and the hub an
   sftp ``backup:target`` on it.

States read the merged values straight from ``pillar``; no ``map.jinja`` is needed.

Why one file of about 600 lines: an ext_pillar is a single module the master loads from
pillar_dirs, and every check reads the same merged site; splitting it into _utils (salt's
shared-code loader) is issue #10's work.
"""

import copy
import difflib
import ipaddress
import os
import re
import urllib.parse

import yaml

__virtualname__ = "jupyterhub_deploy"

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

# System user names: what useradd accepts on Debian, without dots or capitals.
USERNAME_RE = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
# Names that must never be handed to a student or created as staff.
RESERVED_NAMES = {
    "root", "daemon", "bin", "sys", "sync", "games", "man", "lp", "mail", "news", "uucp",
    "proxy", "www-data", "backup", "list", "irc", "nobody", "systemd-network", "sshd",
    "messagebus", "_apt", "admin", "jupyter", "jupyterhub", "docker", "salt", "adm",
    "staff", "sudo", "users", "nogroup", "shadow", "disk",
}  # fmt: skip

# duplicity's backends that backup:target may name (duplicity 0.8, Debian 12).
BACKUP_SCHEMES = {"file", "sftp", "scp", "rsync", "s3", "s3+http", "b2", "gs", "webdavs",
                  "paramiko+sftp", "paramiko+scp", "pexpect+sftp", "pexpect+scp"}  # fmt: skip
# Uids from here up belong to systemd's dynamic users and to nobody.
DYNAMIC_UID_MIN = 61184
DURATION_RE = re.compile(r"^(\d+)\s*([smhdw]?)$")
DURATION_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
SIZE_RE = re.compile(r"^\d+(\.\d+)?[kmgtKMGT]?$")
HEX_RE = re.compile(r"^[0-9a-fA-F]{64}$")
# What Docker accepts as an image tag (whole value: fullmatch).
TAG_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")

DOCKER_TAG = {"kind": "str", "pattern": TAG_RE, "what": "a Docker tag"}

# Keys whose value is not simply "the type of its default". `kind` is one of
# duration, size, str, int, float, bool, list, map; `null` allows None; `pattern` (with
# `what`, its name in the error) is a regular expression the whole str must match.
SPECIAL = {
    "swarm:advertise_address": {"kind": "str", "null": True},
    "users:staff": {"kind": "map"},
    "proxy:public_port": {"kind": "int", "null": True},
    "proxy:websocket_timeout": {"kind": "duration"},
    "proxy:upload_max": {"kind": "size"},
    "proxy:tls:source": {"kind": "str", "choices": ["pillar", "self_signed"]},
    "proxy:tls:certificate": {"kind": "str", "null": True},
    "proxy:tls:key": {"kind": "str", "null": True},
    "docker:log_max_size": {"kind": "size"},
    "hub:api_tokens": {"kind": "map"},
    "hub:cookie_secret": {"kind": "str", "null": True},
    "hub:activity_interval": {"kind": "duration"},
    "auth:type": {"kind": "str", "choices": ["google", "shared_password"]},
    "auth:google:client_id": {"kind": "str", "null": True},
    "auth:google:client_secret": {"kind": "str", "null": True},
    "auth:google:hosted_domain": {"kind": "str", "null": True},
    "auth:shared_password:password": {"kind": "str", "null": True},
    "auth:shared_password:admin_password": {"kind": "str", "null": True},
    "images:tag": DOCKER_TAG,
    "images:singleuser_tag": {**DOCKER_TAG, "null": True},
    "spawner:mem_limit": {"kind": "size"},
    "spawner:cpu_limit": {"kind": "float", "null": True},
    "spawner:concurrent_starts": {"kind": "int", "null": True, "min": 0},
    "spawner:pids_limit": {"kind": "int", "null": True, "min": 64},
    "spawner:start_timeout": {"kind": "duration"},
    "spawner:http_timeout": {"kind": "duration"},
    "cull:interval": {"kind": "duration"},
    "cull:timeout": {"kind": "duration"},
    "cull:max_age": {"kind": "duration"},
    "stats:interval": {"kind": "duration"},
    "backup:target": {"kind": "str", "null": True},
    "backup:target_host": {"kind": "str", "null": True},
    "backup:full_every": {"kind": "duration"},
    "backup:stale_after": {"kind": "duration"},
    "backup:passphrase": {"kind": "str", "null": True},
    "backup:gpg_key": {"kind": "str", "null": True},
}

# Secrets, and the one role whose minions may see them (secrets/<role>.sls).
SECRETS = {
    "hub:cookie_secret": "hub",
    "hub:api_tokens": "hub",
    "auth:google:client_secret": "hub",
    "auth:shared_password:password": "hub",
    "auth:shared_password:admin_password": "hub",
    "backup:passphrase": "hub",
    "backup:gpg_key": "hub",
    "proxy:tls:key": "proxy",
}
# A missing secret that another one can stand in for: the one named in the error.
SECRET_ALTERNATIVES = {"backup:passphrase": "backup:gpg_key"}
# What an ASCII-armored OpenPGP key block (backup:gpg_key) begins and ends with.
KEY_BLOCK_RE = re.compile(
    r"^-----BEGIN PGP (PUBLIC|PRIVATE) KEY BLOCK-----\n.*\n-----END PGP \1 KEY BLOCK-----$",
    re.DOTALL,
)


class PillarError(Exception):
    """The site pillar is invalid; the message lists every problem, one per line."""


def ext_pillar(minion_id, pillar, defaults_dir):
    """Salt's entry point: the merged, validated configuration for ``minion_id``."""
    return build(minion_id, pillar, load_defaults(defaults_dir))


def load_defaults(defaults_dir):
    """Merge every ``<defaults_dir>/*/defaults.yaml`` into one dict of sections."""
    defaults = {}
    for concern in sorted(os.listdir(defaults_dir)):
        path = os.path.join(defaults_dir, concern, "defaults.yaml")
        if not os.path.isfile(path):
            continue
        with open(path, encoding="utf-8") as handle:
            data = yaml.safe_load(handle) or {}
        for section in data:
            if section in defaults:
                raise PillarError(f"{path}: section '{section}' already has defaults elsewhere")
        defaults.update(data)
    return defaults


def build(minion_id, pillar, defaults):
    """Merge, validate and normalise; raise PillarError listing every problem."""
    errors = []
    site = {k: v for k, v in pillar.items() if k not in SALT_KEYS}
    merged = _check_and_merge(defaults, site, errors)
    if not errors:
        _check_site(merged, errors)
    roles = roles_of(minion_id, merged) if not errors else []
    if not errors:
        _check_secrets(minion_id, roles, merged, errors)
    if errors:
        raise PillarError("invalid site pillar:\n" + "\n".join(f"- {e}" for e in errors))
    _normalise(merged)
    merged["minion_roles"] = roles
    _add_image_names(merged)
    _add_containment(merged)
    merged.update(salt_settings(roles, merged))
    _add_backup_target(roles, merged)
    return merged


def _add_image_names(config):
    """
    ``registry:address``, ``images:names`` (hub, singleuser: where our images live) and
    ``images:singleuser_tag`` resolved (null: ``images:tag``), so states need no such rule.
    """
    hub_address = config["hosts"][config["roles"]["hub"]]
    registry = config["registry"]["address"] = f"{hub_address}:{config['registry']['port']}"
    images = config["images"]
    if images["singleuser_tag"] is None:
        images["singleuser_tag"] = images["tag"]
    tags = {"hub": images["tag"], "singleuser": images["singleuser_tag"]}
    images["names"] = {
        which: f"{registry}/{images['repository']}/{which}:{tag}" for which, tag in tags.items()
    }


def _add_containment(config):
    """``swarm:containment_blocked``: the addresses student containers may not reach (the
    hub's and the nodes'; salt/swarm/containment.sls)."""
    roles, hosts = config["roles"], config["hosts"]
    blocked = [hosts[roles["hub"]]] + [hosts[node] for node in roles["nodes"]]
    config["swarm"]["containment_blocked"] = sorted(set(blocked))


def salt_settings(roles, config):
    """Salt's own pillar keys that follow from the site: the hub's idle-server beacon."""
    if "hub" not in roles or not config["cull"]["enabled"]:
        return {}
    # _beacons/jupyterhub_idle.py; it reads the cull: timeouts through the pillar itself.
    beacon = [{"interval": config["cull"]["interval"]}, {"disable_during_state_run": True}]
    return {"beacons": {"jupyterhub_idle": beacon}}


def _add_backup_target(roles, config):
    """
    With ``backup:target_host``: the sftp ``backup:target`` on it (unless the site set one),
    and on that host the mine function that publishes its ssh host keys to the hub.
    """
    backup = config["backup"]
    host = backup["target_host"]
    if host is None:
        return
    if not backup["target"]:
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


def parse_duration(value):
    """Seconds from an int or a string like '90s', '10m', '24h', '7d', '2w'."""
    if isinstance(value, bool):
        raise ValueError("a duration, not a boolean")
    if isinstance(value, int):
        return value
    match = DURATION_RE.match(str(value).strip())
    if not match:
        raise ValueError(f"{value!r} is not a duration like 90s, 10m, 24h, 7d")
    return int(match.group(1)) * DURATION_UNITS[match.group(2)]


def is_safe_username(name):
    """True for a name we will hand to useradd and use in container names."""
    return (
        isinstance(name, str) and bool(USERNAME_RE.fullmatch(name)) and name not in RESERVED_NAMES
    )


# --- merging and per-key checks ------------------------------------------------------


def _check_and_merge(defaults, site, errors):
    known = set(defaults) | SITE_KEYS
    merged = copy.deepcopy(defaults)
    for key, value in site.items():
        if key in COMPUTED_KEYS:
            errors.append(f"'{key}' is computed by the master; remove it from the site pillar")
        elif key not in known:
            errors.append(_unknown(key, known))
        elif key in SITE_KEYS:
            merged[key] = value
        else:
            merged[key] = _merge_value(key, defaults[key], value, errors)
    for key in sorted(SITE_KEYS - set(site)):
        errors.append(f"'{key}' is missing: the site pillar must name its hosts and roles")
    return merged


def _merge_value(path, default, value, errors):
    spec = SPECIAL.get(path)
    if spec is None and isinstance(default, dict):
        if not isinstance(value, dict):
            errors.append(f"'{path}' must be a mapping, got {type(value).__name__}")
            return default
        result = copy.deepcopy(default)
        for key, sub in value.items():
            sub_path = f"{path}:{key}"
            if key not in default:
                errors.append(_unknown(sub_path, [f"{path}:{k}" for k in default]))
                continue
            result[key] = _merge_value(sub_path, default[key], sub, errors)
        return result
    problem = _type_problem(spec or {"kind": _kind_of(default)}, value)
    if problem:
        errors.append(f"'{path}' {problem}")
        return default
    return value


def _kind_of(default):
    for kind, types in (
        ("bool", bool),
        ("int", int),
        ("float", float),
        ("str", str),
        ("list", list),
        ("map", dict),
    ):
        if isinstance(default, types):
            return kind
    return "str"


def _type_problem(spec, value):
    kind = spec["kind"]
    if value is None:
        return None if spec.get("null") else f"must be set (a {kind})"
    if kind == "duration":
        try:
            parse_duration(value)
        except ValueError as exc:
            return f"must be a duration: {exc}"
        return None
    if kind == "size":
        if isinstance(value, bool) or not SIZE_RE.match(str(value)):
            return f"must be a size like 512M or 1G, got {value!r}"
        return None
    expected = {
        "bool": bool,
        "int": int,
        "float": (int, float),
        "str": str,
        "list": list,
        "map": dict,
    }[kind]
    if not isinstance(value, expected) or (kind != "bool" and isinstance(value, bool)):
        return f"must be a {kind}, got {type(value).__name__} {value!r}"
    if "min" in spec and value < spec["min"]:
        return f"must be at least {spec['min']}, got {value!r}"
    if "choices" in spec and value not in spec["choices"]:
        return f"must be one of {', '.join(spec['choices'])}, got {value!r}"
    if "pattern" in spec and not spec["pattern"].fullmatch(value):
        return f"must be {spec['what']} ({spec['pattern'].pattern}), got {value!r}"
    return None


def _unknown(path, known):
    leaf = path.rsplit(":", 1)[-1]
    close = difflib.get_close_matches(path, list(known), n=1) or difflib.get_close_matches(
        leaf, [k.rsplit(":", 1)[-1] for k in known], n=1
    )
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return f"'{path}' is not a known key{hint}"


# --- whole-site checks -----------------------------------------------------------------


def _check_site(config, errors):
    _check_hosts(config, errors)
    _check_users(config["users"], errors)
    if config["docker"]["live_restore"]:
        errors.append("'docker:live_restore' is refused by Docker on swarm members (hub, nodes)")
    _check_backup(config, errors)
    _check_cull(config, errors)
    if config["proxy"]["tls"]["source"] == "pillar" and not config["proxy"]["tls"]["certificate"]:
        errors.append("'proxy:tls:certificate' must be set when 'proxy:tls:source' is pillar")
    if config["auth"]["type"] == "google" and not config["auth"]["google"]["client_id"]:
        errors.append("'auth:google:client_id' must be set when 'auth:type' is google")


def _check_backup(config, errors):
    backup, hosts, roles = config["backup"], config["hosts"], config["roles"]
    host = backup["target_host"]
    if host is not None and isinstance(hosts, dict):
        if host not in hosts:
            errors.append(f"'backup:target_host' names '{host}', which is not in 'hosts'")
        elif isinstance(roles, dict) and host == roles.get("hub"):
            errors.append(
                "'backup:target_host' is the hub itself: backups must leave the hub "
                "(for a disk of the hub, set 'backup:target' to a file:// URL)"
            )
    if backup["target"]:
        _check_backup_target(str(backup["target"]), errors)
    if backup["enabled"] and not backup["target"] and host is None:
        errors.append(
            "'backup:target' or 'backup:target_host' must be set when 'backup:enabled' is true"
        )
    for key in ("source", "work_dir", "target_dir"):
        if not str(backup[key]).startswith("/"):
            errors.append(f"'backup:{key}' must be an absolute path, got {backup[key]!r}")
    key = backup["gpg_key"]
    if key and not KEY_BLOCK_RE.match(key.strip().replace("\r\n", "\n")):
        # Never the value: it may be a secret key.
        errors.append(
            "'backup:gpg_key' must be an ASCII-armored OpenPGP key block, from -----BEGIN "
            "PGP PUBLIC KEY BLOCK----- (or PRIVATE) to its -----END ...----- line "
            "(gpg --armor --export[-secret-keys] <fingerprint>)"
        )
    if not USERNAME_RE.fullmatch(str(backup["target_user"])):
        errors.append(
            f"'backup:target_user' must be a user name ({USERNAME_RE.pattern}), "
            f"got {backup['target_user']!r}"
        )


def _check_cull(config, errors):
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


def _check_backup_target(target, errors):
    """A URL duplicity can use: a known scheme, a host for remote ones, an absolute path."""
    parts = urllib.parse.urlsplit(target)
    if parts.scheme not in BACKUP_SCHEMES:
        errors.append(
            f"'backup:target' {_redact_url(target)!r} must be a duplicity URL: one of "
            f"{', '.join(s + '://' for s in sorted(BACKUP_SCHEMES))}"
        )
    elif parts.scheme == "file":
        if parts.netloc or not parts.path.startswith("/"):
            errors.append(
                f"'backup:target' {target!r} must be file:// and an absolute path "
                "(file:///srv/backup, three slashes)"
            )
    elif not parts.hostname or not parts.path.strip("/"):
        errors.append(
            f"'backup:target' {_redact_url(target)!r} needs a host and a path "
            f"({parts.scheme}://user@host//absolute/path or /relative/path)"
        )


def _redact_url(url):
    """The URL without a password, if one was written in it."""
    parts = urllib.parse.urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urllib.parse.urlunsplit(parts._replace(netloc=netloc))
    return url


def _check_hosts(config, errors):
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
            errors.append(_unknown(f"roles:{key}", ["roles:proxy", "roles:hub", "roles:nodes"]))
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


def _check_users(users, errors):
    low, high = users["student_uid_min"], users["student_uid_max"]
    if not 1000 <= low < high:
        errors.append("'users:student_uid_min' must be at least 1000 and below student_uid_max")
    if high >= DYNAMIC_UID_MIN:
        errors.append(
            f"'users:student_uid_max' {high} reaches {DYNAMIC_UID_MIN}-65535: systemd's dynamic "
            "users and nobody (65534) live there; keep students below"
        )
    uids = {}
    for name, account in users["staff"].items():
        path = f"users:staff:{name}"
        if not is_safe_username(name):
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
                    _unknown(f"{path}:{key}", [f"{path}:{k}" for k in ("uid", "admin", "ssh_keys")])
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
        if not is_safe_username(name):
            errors.append(
                f"'users:students': unsafe user name {name!r} "
                f"(need {USERNAME_RE.pattern}, not a system account)"
            )
        elif name in users["staff"] or name in seen:
            errors.append(f"'users:students': {name!r} is listed twice (students or staff)")
        seen.add(name)


def _check_secrets(minion_id, roles, config, errors):
    """Each secret reaches only its role's minions, and those minions must have it."""
    needed = _needed_secrets(config)
    for path, role in SECRETS.items():
        value = _get(config, path)
        if role in roles:
            if path in needed and not value:
                alternative = SECRET_ALTERNATIVES.get(path)
                what = f"it (or '{alternative}')" if alternative else "it"
                errors.append(f"'{path}' is missing: put {what} in secrets/{role}.sls")
        elif value:
            errors.append(
                f"'{path}' is a secret of the {role} but reached '{minion_id}': "
                f"move it to secrets/{role}.sls"
            )
    shared = config["auth"]["shared_password"]
    if "hub" in roles and config["auth"]["type"] == "shared_password":
        # JupyterHub refuses to start with shorter ones.
        if shared["password"] and len(shared["password"]) < 8:
            errors.append("'auth:shared_password:password' must be at least 8 characters")
        if shared["admin_password"] and len(shared["admin_password"]) < 32:
            errors.append("'auth:shared_password:admin_password' must be at least 32 characters")
    token = config["hub"]["cookie_secret"]
    if "hub" in roles and token and not HEX_RE.match(token):
        errors.append("'hub:cookie_secret' must be 64 hex characters (openssl rand -hex 32)")


def _needed_secrets(config):
    needed = {"hub:cookie_secret"}
    if config["auth"]["type"] == "google":
        needed.add("auth:google:client_secret")
    else:
        needed.add("auth:shared_password:password")
    if config["backup"]["enabled"] and not config["backup"]["gpg_key"]:
        # Encrypted with the passphrase, unless to a GPG key.
        needed.add("backup:passphrase")
    if config["proxy"]["tls"]["source"] == "pillar":
        needed.add("proxy:tls:key")
    return needed


def _get(config, path):
    value = config
    for key in path.split(":"):
        value = value.get(key) if isinstance(value, dict) else None
    return value


def _normalise(config):
    """Durations become seconds, so states and modules never parse units."""
    for path, spec in SPECIAL.items():
        if spec["kind"] == "duration":
            section, _, key = path.rpartition(":")
            parent = _get(config, section)
            parent[key] = parse_duration(parent[key])
