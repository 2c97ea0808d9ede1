"""
The checks of the jupyterhub_deploy ext_pillar (jupyterhub_deploy.py, next to this file,
loads it by path): what one value must be, what the whole merged site must be, and which
secrets each minion must and must not have. Each check appends messages naming the key to
``errors``; nothing here merges, derives or raises PillarError.

Its name starts with "_": salt's loader skips such files in pillar_dirs, so this is not an
ext_pillar of its own.

Why about 400 lines: every site-wide rule the master refuses a pillar for, one function
per concern; they share the error list and the patterns.
"""

import difflib
import ipaddress
import re
import urllib.parse

# System user names: what useradd accepts on Debian, without dots or capitals.
USERNAME_RE = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
# duplicity's backends that backup:target may name: those of both 0.8 (Debian 12) and 3.x
# (Debian 13). 3.x dropped the boto2 ones; a site upgrading must move before it does.
BACKUP_SCHEMES = {"file", "sftp", "scp", "rsync", "s3", "b2", "webdavs",
                  "paramiko+sftp", "paramiko+scp", "pexpect+sftp", "pexpect+scp"}  # fmt: skip
GONE_IN_DUPLICITY_3 = {"gs": "s3:// (boto3) with Google's S3-compatible endpoint",
                       "s3+http": "s3:// (boto3)"}  # fmt: skip
# Uids from here up belong to systemd's dynamic users and to nobody.
DYNAMIC_UID_MIN = 61184
DURATION_RE = re.compile(r"^(\d+)\s*([smhdw]?)$")
DURATION_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
SIZE_RE = re.compile(r"^\d+(\.\d+)?[kmgtKMGT]?$")
HEX_RE = re.compile(r"^[0-9a-fA-F]{64}$")
# Values that states put on command lines (cmd.run): nothing a shell would read as syntax
# (the image values through their rules' patterns, salt/images/rules.yaml).
SAFE_PATH_RE = re.compile(r"/[A-Za-z0-9._+/-]*")
# The `pattern`s a rules.yaml may name: (what the whole value must match, its name in errors).
PATTERNS = {
    "image_ref": (re.compile(r"[A-Za-z0-9][A-Za-z0-9._/:@-]{0,254}"), "an image reference"),
    "repository": (
        re.compile(r"[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*"),
        "a repository path",
    ),
    # What Docker accepts as a tag.
    "docker_tag": (re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"), "a Docker tag"),
    "release": (re.compile(r"\d+\.\d+\.\d+(?:(?:a|b|rc)\d+)?"), "a release such as 6.1.2"),
    "https_url": (
        re.compile(r"https://[A-Za-z0-9.-]+(?::\d+)?(?:/[A-Za-z0-9._~/-]*)?"),
        "an https URL",
    ),
}
# What certbot is given on its command line (proxy:tls:acme).
EMAIL_RE = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*")
DNS_NAME_RE = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)(?:\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*")
RULE_FIELDS = {"kind", "nullable", "min", "choices", "pattern", "add_to_default"}
KINDS = {"duration", "size", "str", "int", "float", "bool", "list", "map"}

# Secrets, and the one role whose minions may see them (secrets/<role>.sls).
SECRETS = {
    "hub:cookie_secret": "hub",
    "hub:proxy_auth_token": "hub",
    "hub:api_tokens": "hub",
    "auth:google:client_secret": "hub",
    "auth:shared_password:password": "hub",
    "auth:shared_password:admin_password": "hub",
    "backup:passphrase": "hub",
    "backup:gpg_key": "hub",
    # A duplicity URL may hold the target's credentials (b2://id:key@, webdavs://user:pass@).
    "backup:target": "hub",
    "proxy:tls:key": "proxy",
    "proxy:tls:acme:dns:key_secret": "proxy",
}
# A missing secret that another one can stand in for: the one named in the error.
SECRET_ALTERNATIVES = {"backup:passphrase": "backup:gpg_key"}
# What an ASCII-armored OpenPGP key block (backup:gpg_key) begins and ends with.
KEY_BLOCK_RE = re.compile(
    r"^-----BEGIN PGP (PUBLIC|PRIVATE) KEY BLOCK-----\n.*\n-----END PGP \1 KEY BLOCK-----$",
    re.DOTALL,
)


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


def is_safe_username(name, reserved):
    """True for a name we will hand to useradd and use in container names (``reserved``:
    users:reserved_names)."""
    return isinstance(name, str) and bool(USERNAME_RE.fullmatch(name)) and name not in reserved


# --- per-key checks, made while jupyterhub_deploy.py merges ------------------------------


def kind_of(default):
    """The rule `kind` that the type of a default implies."""
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


def compile_rule(path, key, rule):
    """A rules.yaml entry checked and ready for :func:`type_problem` (a named pattern
    becomes the expression and ``what``); a mistake in the file names it."""
    wrong = set(rule) - RULE_FIELDS if isinstance(rule, dict) else {"(not a mapping)"}
    if wrong or rule.get("kind") not in KINDS or rule.get("pattern", "image_ref") not in PATTERNS:
        raise ValueError(f"{path}: bad rule for '{key}': {rule!r}")
    compiled = dict(rule)
    if "pattern" in rule:
        compiled["pattern"], compiled["what"] = PATTERNS[rule["pattern"]]
    return compiled


def type_problem(spec, value):
    """What is wrong with ``value`` for ``spec`` (a rule, see :func:`compile_rule`), or None."""
    kind = spec["kind"]
    if value is None:
        return None if spec.get("nullable") else f"must be set (a {kind})"
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


def unknown(path, known):
    """The error for an unknown key, with the closest known one as a hint."""
    leaf = path.rsplit(":", 1)[-1]
    close = difflib.get_close_matches(path, list(known), n=1) or difflib.get_close_matches(
        leaf, [k.rsplit(":", 1)[-1] for k in known], n=1
    )
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return f"'{path}' is not a known key{hint}"


# --- whole-site checks -----------------------------------------------------------------


def check_site(config, errors):
    """The rules of the merged site that no one key's type can say."""
    _check_hosts(config, errors)
    _check_users(config["users"], errors)
    if config["docker"]["live_restore"]:
        errors.append("'docker:live_restore' is refused by Docker on swarm members (hub, nodes)")
    _check_backup(config, errors)
    _check_ca_certs(config["images"]["extra_ca_certs"], errors)
    _check_cull(config, errors)
    _check_dashboard(config, errors)
    _check_containment_allow(config["swarm"]["containment_allow"], errors)
    _check_overlay_subnet(config, errors)
    _check_proxy_api_subnet(config, errors)
    _check_tls(config["proxy"], errors)
    if config["auth"]["type"] == "google" and not config["auth"]["google"]["client_id"]:
        errors.append("'auth:google:client_id' must be set when 'auth:type' is google")


def _check_tls(proxy, errors):
    tls = proxy["tls"]
    if tls["source"] == "pillar" and not tls["certificate"]:
        errors.append("'proxy:tls:certificate' must be set when 'proxy:tls:source' is pillar")
    if tls["source"] != "acme":
        return
    acme = tls["acme"]
    if not acme["email"]:
        errors.append(
            "'proxy:tls:acme:email' must be set when 'proxy:tls:source' is acme (the ACME "
            "server writes there before the certificate expires)"
        )
    elif not EMAIL_RE.fullmatch(str(acme["email"])):
        errors.append(f"'proxy:tls:acme:email' must be an email address, got {acme['email']!r}")
    dns01 = acme["challenge"] == "dns-01"
    names = acme["names"] if isinstance(acme["names"], list) else []
    for key, name in [("proxy:server_name", proxy["server_name"])] + [
        (f"proxy:tls:acme:names[{i}]", n) for i, n in enumerate(names)
    ]:
        plain = name[2:] if dns01 and str(name).startswith("*.") else name
        if not isinstance(plain, str) or not DNS_NAME_RE.fullmatch(plain):
            wildcard = " (a wildcard needs challenge: dns-01)" if "*" in str(name) else ""
            errors.append(f"'{key}' must be a DNS name for the certificate, got {name!r}{wildcard}")
    ca = acme["directory_ca"]
    if ca is not None and "-----BEGIN CERTIFICATE-----" not in str(ca):
        errors.append("'proxy:tls:acme:directory_ca' must be a PEM certificate (or null)")
    if dns01:
        _check_acme_dns(acme["dns"], errors)


def _check_acme_dns(dns, errors):
    """certbot's rfc2136 plugin takes the server as an address and the key by its name."""
    try:
        ipaddress.ip_address(str(dns["server"]))
    except ValueError:
        errors.append(
            "'proxy:tls:acme:dns:server' must be the DNS server's IP address when "
            f"'proxy:tls:acme:challenge' is dns-01, got {dns['server']!r}"
        )
    if not dns["key_name"] or not DNS_NAME_RE.fullmatch(str(dns["key_name"]).rstrip(".")):
        errors.append(
            "'proxy:tls:acme:dns:key_name' must be the TSIG key's name when "
            f"'proxy:tls:acme:challenge' is dns-01, got {dns['key_name']!r}"
        )


def _check_containment_allow(allow, errors):
    for entry in allow:
        try:
            ipaddress.ip_network(str(entry), strict=False)
        except ValueError:
            errors.append(
                f"'swarm:containment_allow': {entry!r} is not an address or network "
                "(10.20.0.5, 10.20.0.0/24, 2001:db8::/64)"
            )


def _check_overlay_subnet(config, errors):
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


def _check_proxy_api_subnet(config, errors):
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
    for key in ("source", "work_dir", "target_dir"):
        if not str(backup[key]).startswith("/"):
            errors.append(f"'backup:{key}' must be an absolute path, got {backup[key]!r}")
        else:
            _check_shell_safe(f"backup:{key}", backup[key], SAFE_PATH_RE, "a plain path", errors)
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


def _check_shell_safe(path, value, pattern, what, errors):
    """A value that reaches a command line (salt's cmd.run) must be plain: no quoting games."""
    if not isinstance(value, str) or not pattern.fullmatch(value):
        errors.append(f"'{path}' must be {what} ({pattern.pattern}), got {value!r}")


def _check_ca_certs(pems, errors):
    if not isinstance(pems, list):
        return  # reported as a wrong type
    for index, pem in enumerate(pems):
        name = f"images:extra_ca_certs[{index}]"
        _check_shell_safe(name, pem, SAFE_PATH_RE, "an absolute plain path", errors)


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


def _check_dashboard(config, errors):
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


def _check_backup_target(target, errors):
    """A URL duplicity can use: a known scheme, a host for remote ones, an absolute path."""
    parts = urllib.parse.urlsplit(target)
    if parts.scheme in GONE_IN_DUPLICITY_3:
        errors.append(
            f"'backup:target' {_redact_url(target)!r}: duplicity 3 (Debian 13) has no "
            f"{parts.scheme}:// backend; use {GONE_IN_DUPLICITY_3[parts.scheme]}"
        )
    elif parts.scheme not in BACKUP_SCHEMES:
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


def _check_users(users, errors):
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


# --- secrets ------------------------------------------------------------------------------


def check_secrets(minion_id, roles, config, errors):
    """Each secret reaches only its role's minions, and those minions must have it."""
    needed = _needed_secrets(config)
    for path, role in SECRETS.items():
        value = get(config, path)
        if role in roles:
            if path in needed and not value:
                alternative = SECRET_ALTERNATIVES.get(path)
                what = f"it (or '{alternative}')" if alternative else "it"
                where = f"put {what} in secrets/{role}.sls"
                if path == "backup:target":
                    where += ", or set 'backup:target_host' in site.sls"
                errors.append(f"'{path}' is missing: {where}")
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
    for key in ("cookie_secret", "proxy_auth_token"):
        token = config["hub"][key]
        if "hub" in roles and token and not HEX_RE.match(token):
            errors.append(f"'hub:{key}' must be 64 hex characters (openssl rand -hex 32)")


def _needed_secrets(config):
    needed = {"hub:cookie_secret", "hub:proxy_auth_token"}
    if config["auth"]["type"] == "google":
        needed.add("auth:google:client_secret")
    else:
        needed.add("auth:shared_password:password")
    if config["backup"]["enabled"] and not config["backup"]["gpg_key"]:
        # Encrypted with the passphrase, unless to a GPG key.
        needed.add("backup:passphrase")
    if config["backup"]["enabled"] and config["backup"]["target_host"] is None:
        needed.add("backup:target")
    tls = config["proxy"]["tls"]
    if tls["source"] == "pillar":
        needed.add("proxy:tls:key")
    if tls["source"] == "acme" and tls["acme"]["challenge"] == "dns-01":
        needed.add("proxy:tls:acme:dns:key_secret")
    return needed


def get(config, path):
    """The value at ``path`` (``a:b:c``) in ``config``; None where a level is missing."""
    value = config
    for key in path.split(":"):
        value = value.get(key) if isinstance(value, dict) else None
    return value
