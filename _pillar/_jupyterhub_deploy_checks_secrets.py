"""
Which secrets each minion must and must not have: a secret reaches only its role's minions
(secrets/<role>.sls), and those that need it must have it, in the form its user accepts.
``_jupyterhub_deploy_checks.py`` loads this file and hands on :data:`SECRETS` and
:func:`check_secrets` (jupyterhub_deploy.py calls it once the site is valid).
"""

import re

from _jupyterhub_deploy_checks import get

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
# What openssl rand -hex 32 prints (hub:cookie_secret, hub:proxy_auth_token).
HEX_RE = re.compile(r"^[0-9a-fA-F]{64}$")


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
