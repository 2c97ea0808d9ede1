"""
The checks of the site's ``backup:`` section that no one key's type can say: where the
backups go (``target_host``, or a duplicity URL in ``target``), the paths states hand to
commands, the OpenPGP key and the target's user. ``_jupyterhub_deploy_checks.py`` loads
this file and calls :func:`check_backup` from its ``check_site``.
"""

import re
import urllib.parse

from _jupyterhub_deploy_checks import SAFE_PATH_RE, USERNAME_RE, check_shell_safe

# duplicity's backends that backup:target may name: those of both 0.8 (Debian 12) and 3.x
# (Debian 13). 3.x dropped the boto2 ones; a site upgrading must move before it does.
BACKUP_SCHEMES = {"file", "sftp", "scp", "rsync", "s3", "b2", "webdavs",
                  "paramiko+sftp", "paramiko+scp", "pexpect+sftp", "pexpect+scp"}  # fmt: skip
GONE_IN_DUPLICITY_3 = {"gs": "s3:// (boto3) with Google's S3-compatible endpoint",
                       "s3+http": "s3:// (boto3)"}  # fmt: skip
# What an ASCII-armored OpenPGP key block (backup:gpg_key) begins and ends with.
KEY_BLOCK_RE = re.compile(
    r"^-----BEGIN PGP (PUBLIC|PRIVATE) KEY BLOCK-----\n.*\n-----END PGP \1 KEY BLOCK-----$",
    re.DOTALL,
)


def check_backup(config, errors):
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
            check_shell_safe(f"backup:{key}", backup[key], SAFE_PATH_RE, "a plain path", errors)
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
