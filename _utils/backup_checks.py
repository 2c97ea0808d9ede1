"""
What _modules/backup.py needs of its inputs: the keys of the pillar's ``backup:`` section
(``cfg``) and the path argument of ``backup.restore`` (its target: _utils/backup_restore.py).
Each refusal is a CommandExecutionError that names the key or the argument.

Reached through ``__utils__["backup_checks.<function>"]``.
"""

import os

from salt.exceptions import CommandExecutionError

# --- the pillar ----------------------------------------------------------------------------


def required(cfg, key):
    """``backup:<key>``, which must be set."""
    value = cfg.get(key)
    if value is None or value == "":
        raise CommandExecutionError(f"pillar 'backup:{key}' is not set")
    return value


def seconds(cfg, key):
    """``backup:<key>``, a number of seconds."""
    value = cfg.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise CommandExecutionError(
            f"pillar 'backup:{key}' must be a number of seconds, got {value!r} "
            "(the jupyterhub_deploy ext_pillar converts durations like 7d)"
        )
    return value


def at_least_one(cfg, key):
    """``backup:<key>``, a whole number of at least 1."""
    value = cfg.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise CommandExecutionError(f"pillar 'backup:{key}' must be at least 1, got {value!r}")
    return value


def absolute(cfg, key, default=None):
    """``backup:<key>`` (or ``default``), an absolute path, normalised."""
    value = cfg.get(key) or default
    if not isinstance(value, str) or not os.path.isabs(value):
        raise CommandExecutionError(
            f"pillar 'backup:{key}' must be an absolute path, got {value!r}"
        )
    return os.path.normpath(value)


def require_enabled(cfg, function):
    """Refuse ``function`` when ``backup:enabled`` is false."""
    if not cfg.get("enabled"):
        raise CommandExecutionError(
            f"backups are disabled (pillar 'backup:enabled' is false): {function} refused"
        )


# --- restore's arguments -------------------------------------------------------------------


def relative_path(path):
    """A path inside the backup (``alice``, ``alice/notebooks``), or None for ``.`` (all)."""
    text = str(path) if path is not None else ""
    if "\0" in text or not text.strip():
        raise CommandExecutionError("restore needs a path inside the backup, e.g. a student's name")
    if os.path.isabs(text):
        raise CommandExecutionError(
            f"restore path {text!r} is absolute: give it relative to the backed-up "
            "directory (e.g. 'alice' for /home/alice)"
        )
    parts = [p for p in text.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise CommandExecutionError(f"restore path {text!r} must not contain '..'")
    return "/".join(parts) or None
