"""
The checks of the jupyterhub_deploy ext_pillar (jupyterhub_deploy.py, next to this file,
loads it by path): what one value must be, what the whole merged site must be, and which
secrets each minion must and must not have. Each check appends messages naming the key to
``errors``; nothing here merges, derives or raises PillarError.

This file holds what the checks share (durations, user names, the patterns and rules of a
rules.yaml, the error for an unknown key) and :func:`check_site`. The whole-site checks are
in siblings, one concern each, loaded by :func:`load_sibling`:

- ``_jupyterhub_deploy_checks_site.py``: hosts and roles, users, networks, culling, the
  dashboard, the images' CA certificates;
- ``_jupyterhub_deploy_checks_backup.py``: backup's target, paths and key;
- ``_jupyterhub_deploy_checks_tls.py``: the proxy's certificate (pillar, ACME);
- ``_jupyterhub_deploy_checks_secrets.py``: which secrets each minion must and must not
  have (:data:`SECRETS`, :func:`check_secrets`).

Their names start with "_": salt's loader skips such files in pillar_dirs, so none is an
ext_pillar of its own.
"""

import difflib
import importlib.util
import os
import re

# System user names: what useradd accepts on Debian, without dots or capitals.
USERNAME_RE = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
DURATION_RE = re.compile(r"^(\d+)\s*([smhdw]?)$")
DURATION_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
SIZE_RE = re.compile(r"^\d+(\.\d+)?[kmgtKMGT]?$")
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
RULE_FIELDS = {"kind", "nullable", "min", "choices", "pattern", "add_to_default"}
KINDS = {"duration", "size", "str", "int", "float", "bool", "list", "map"}


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


def get(config, path):
    """The value at ``path`` (``a:b:c``) in ``config``; None where a level is missing."""
    value = config
    for key in path.split(":"):
        value = value.get(key) if isinstance(value, dict) else None
    return value


def check_shell_safe(path, value, pattern, what, errors):
    """A value that reaches a command line (salt's cmd.run) must be plain: no quoting games."""
    if not isinstance(value, str) or not pattern.fullmatch(value):
        errors.append(f"'{path}' must be {what} ({pattern.pattern}), got {value!r}")


# --- whole-site checks, one concern per sibling file --------------------------------------


def load_sibling(name):
    """
    The module in ``<name>.py`` beside this file, loaded by its path as jupyterhub_deploy.py's
    ``_load_checks`` loads this one (it says why), afresh each time this file runs. A sibling
    imports what it shares with ``from _jupyterhub_deploy_checks import ...``: this module,
    which ``_load_checks`` registers under that name before running it. So a sibling is
    loaded below everything it imports, and this file only through ``_load_checks``.
    """
    here = os.path.dirname(os.path.abspath(__file__))
    spec = importlib.util.spec_from_file_location(name, os.path.join(here, f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_site = load_sibling("_jupyterhub_deploy_checks_site")
_backup = load_sibling("_jupyterhub_deploy_checks_backup")
_tls = load_sibling("_jupyterhub_deploy_checks_tls")
_secrets = load_sibling("_jupyterhub_deploy_checks_secrets")
# Secrets, the one role each belongs to, and the check of a minion's (jupyterhub_deploy.py).
SECRETS = _secrets.SECRETS
check_secrets = _secrets.check_secrets


def check_site(config, errors):
    """The rules of the merged site that no one key's type can say."""
    _site.check_hosts(config, errors)
    _site.check_users(config["users"], errors)
    if config["docker"]["live_restore"]:
        errors.append("'docker:live_restore' is refused by Docker on swarm members (hub, nodes)")
    _backup.check_backup(config, errors)
    _site.check_ca_certs(config["images"]["extra_ca_certs"], errors)
    _site.check_cull(config, errors)
    _site.check_dashboard(config, errors)
    _site.check_containment_allow(config["swarm"]["containment_allow"], errors)
    _site.check_overlay_subnet(config, errors)
    _site.check_proxy_api_subnet(config, errors)
    _tls.check_tls(config["proxy"], errors)
    if config["auth"]["type"] == "google" and not config["auth"]["google"]["client_id"]:
        errors.append("'auth:google:client_id' must be set when 'auth:type' is google")
