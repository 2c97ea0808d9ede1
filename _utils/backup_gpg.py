"""
Encryption for _modules/backup.py: symmetric with ``backup:passphrase``, or to the key in
``backup:gpg_key``, imported into the module's own GnuPG home (``<work_dir>/gnupg``), which
then holds that key and no other (the module's docstring says what each kind of key can
do); the fingerprint of what the last run encrypted with, so that a new passphrase or key
starts a new full chain; and what to say when gpg could not decrypt.

Reached through ``__utils__["backup_gpg.<function>"]``. The paths, and the functions that
read and write files there, come on the Paths object of _utils/backup_records.py.
"""

import contextlib
import hashlib
import hmac
import os
import secrets
import subprocess

from salt.exceptions import CommandExecutionError

GPG = "gpg"
# No cached passphrases: every use of the secret key checks backup:passphrase.
AGENT_CONF = "default-cache-ttl 0\nmax-cache-ttl 0\n"
# Encrypting to a key nobody certified: its owner is the admin who put it in the pillar.
GPG_TRUST_OPTION = "--gpg-options=--trust-model=always"


class Key:
    """A primary key as gpg lists it."""

    def __init__(self, fingerprint=None, encrypt=False, secret=False):
        self.fingerprint = fingerprint
        # The key can encrypt (it has a valid encryption (sub)key).
        self.encrypt = encrypt
        # The secret part of an encryption (sub)key is here, so it can decrypt.
        self.secret = secret


class Encryption:
    """
    What duplicity encrypts with: ``key`` (a Key) or None for the symmetric passphrase,
    and ``passphrase``, its PASSPHRASE ("" for a key without one, or one that is public only).
    """

    def __init__(self, key, passphrase):
        self.key = key
        self.passphrase = passphrase

    def options(self):
        """duplicity's options for encrypting: none for symmetric encryption."""
        if self.key is None:
            return []
        return ["--encrypt-key", self.key.fingerprint, GPG_TRUST_OPTION]


def encryption(cfg, paths):
    """
    The Encryption of the pillar section ``cfg``: to ``backup:gpg_key`` when it is set
    (imported first, see _install_key), else symmetric with ``backup:passphrase``. Call it
    under the lock.
    """
    armored = cfg.get("gpg_key")
    if not armored:
        _remove_keys(paths)
        passphrase = cfg.get("passphrase")
        if not passphrase:
            raise CommandExecutionError(
                "pillar 'backup:passphrase' is not set (secrets/hub.sls), nor "
                "'backup:gpg_key': backups are encrypted with one of them"
            )
        return Encryption(None, str(passphrase))
    key = _install_key(paths, str(armored))
    # A public key decrypts nothing: duplicity must not try (with a passphrase it would).
    passphrase = str(cfg.get("passphrase") or "") if key.secret else ""
    return Encryption(key, passphrase)


def require_secret(encryption, function):
    """Refuse ``function`` (verify, restore) when backup:gpg_key has no secret key."""
    key = encryption.key
    if key is None or key.secret:
        return
    raise CommandExecutionError(
        f"{function} needs the secret key, but pillar 'backup:gpg_key' holds only the "
        f"public key {key.fingerprint}: put the secret key (gpg --armor "
        f"--export-secret-keys {key.fingerprint}) in backup:gpg_key in secrets/hub.sls, "
        "or run duplicity where the secret key is (e.g. duplicity restore <backup:target> "
        "<directory>)"
    )


def _gpg(paths, args, stdin=None):
    """gpg's output for ``args`` on the module's GnuPG home; an error names gpg's reason."""
    argv = [GPG, "--batch", "--no-tty", "--homedir", paths.gnupg, *args]
    env = dict(os.environ, LC_ALL="C.UTF-8", LANG="C.UTF-8")
    try:
        proc = subprocess.run(
            argv,
            input=stdin,
            capture_output=True,
            text=True,
            errors="replace",
            env=env,
            check=False,
        )
    except FileNotFoundError:
        raise CommandExecutionError("gpg is not installed (duplicity needs it)") from None
    if proc.returncode != 0:
        lines = [line for line in proc.stderr.splitlines() if line.strip()]
        detail = "; ".join(lines[-3:])
        raise CommandExecutionError(f"gpg {args[0]} failed (exit {proc.returncode}): {detail}")
    return proc.stdout


def _parse_keys(colons):
    """
    The primary keys of a ``gpg --with-colons`` listing as ``{fingerprint: Key}``.

    A ``pub`` or ``sec`` record starts a key and the next ``fpr`` record is its fingerprint.
    Field 12 holds capabilities: ``E`` when the key as a whole can encrypt, ``e`` on the
    (sub)key that does. Field 15 of ``sec``/``ssb`` is ``+`` when the secret part is here
    and ``#`` for a stub.
    """
    keys, current = {}, None
    for line in colons.splitlines():
        fields = line.split(":") + [""] * 20
        kind = fields[0]
        if kind in ("pub", "sec"):
            current = Key(encrypt="E" in fields[11])
        elif kind == "fpr" and current is not None and current.fingerprint is None:
            current.fingerprint = fields[9]
            keys[current.fingerprint] = current
        if kind in ("sec", "ssb") and current is not None and "e" in fields[11]:
            current.secret = current.secret or fields[14] not in ("", "#")
    return keys


def _keyring(paths):
    """The keys in the module's GnuPG home, with their secret parts, ``{fingerprint: Key}``."""
    keys = _parse_keys(_gpg(paths, ["--with-colons", "--list-keys"]))
    secret = _parse_keys(_gpg(paths, ["--with-colons", "--list-secret-keys"]))
    for fingerprint, key in keys.items():
        key.secret = fingerprint in secret and secret[fingerprint].secret
    return keys


def _remove_keys(paths, keys=None):
    """Delete ``keys`` (default: every key a backup:gpg_key put here) from the GnuPG home."""
    if keys is None:
        if not os.path.exists(paths.key_digest):
            return
        keys = _keyring(paths)
    for fingerprint in keys:
        _gpg(paths, ["--yes", "--delete-secret-and-public-keys", fingerprint])
    with contextlib.suppress(FileNotFoundError):
        os.unlink(paths.key_digest)


def _configure_agent(paths):
    """gpg-agent of the module's GnuPG home caches no passphrase (AGENT_CONF)."""
    paths.make()
    if not paths.write_if_changed(paths.agent_conf, AGENT_CONF):
        return
    # An agent already running (it outlives gpg) reads the file again; none is started.
    with contextlib.suppress(OSError):
        command = ["gpgconf", "--homedir", paths.gnupg, "--reload", "gpg-agent"]
        subprocess.run(command, capture_output=True, check=False)


def _install_key(paths, armored):
    """
    Make the module's GnuPG home hold the key block ``armored`` (backup:gpg_key) and no
    other key, and return that key as gpg lists it after the import. Imports only when the
    block differs from the last one imported (its sha256 in ``gnupg/pillar-key.sha256``).
    """
    _configure_agent(paths)
    digest = hashlib.sha256(armored.encode()).hexdigest()
    keys = _keyring(paths)
    saved = paths.read_json(paths.key_digest)
    if len(keys) != 1 or saved != digest:
        _remove_keys(paths, keys)
        # No digest yet, but the file says keys may be here (for _remove_keys).
        paths.write_json(paths.key_digest, None)
        try:
            _gpg(paths, ["--import"], stdin=armored)
        except CommandExecutionError as exc:
            raise CommandExecutionError(f"pillar 'backup:gpg_key' was refused: {exc}") from None
        keys = _keyring(paths)
        if len(keys) != 1:
            _remove_keys(paths, keys)
            raise CommandExecutionError(
                f"pillar 'backup:gpg_key' must hold one OpenPGP key, gpg found {len(keys)}"
            )
        paths.write_json(paths.key_digest, digest)
    (key,) = keys.values()
    if not key.encrypt:
        raise CommandExecutionError(
            f"the key {key.fingerprint} in pillar 'backup:gpg_key' cannot encrypt: it has no "
            "valid encryption subkey (expired, revoked, or a signing-only key)"
        )
    return key


def key_hint(encryption, output):
    """Why gpg could not decrypt with backup:gpg_key, from duplicity's ``output``, or ""."""
    key = encryption.key if encryption is not None else None
    if key is None:
        return ""
    if "Bad passphrase" in output or "No passphrase given" in output:
        return (
            f" -- pillar 'backup:passphrase' does not unlock the secret key {key.fingerprint} "
            "in backup:gpg_key"
        )
    if "No secret key" not in output:
        return ""
    if not key.secret:
        return (
            f" -- backup:gpg_key holds only the public key {key.fingerprint}, and duplicity "
            "had to decrypt the target's metadata to rebuild its cache (<backup:work_dir>/"
            "cache, missing or behind the target): put the secret key in backup:gpg_key "
            "for one run, or start a new chain at an empty backup:target"
        )
    return (
        f" -- this backup is encrypted to another key than {key.fingerprint} (an older "
        "backup:gpg_key?): restore it where that key's secret key is"
    )


def _fingerprint(passphrase, salt):
    return hashlib.pbkdf2_hmac("sha256", passphrase.encode(), bytes.fromhex(salt), 200_000).hex()


def changed(paths, encryption):
    """
    ``"passphrase"`` or ``"key"`` when the last run encrypted with another passphrase or
    key than ``encryption`` (``"key"`` also for a switch between the two), else None (also
    when unknown).
    """
    saved = paths.read_json(paths.fingerprint)
    if not isinstance(saved, dict):
        return None
    if "key" in saved:
        same = encryption.key is not None and saved["key"] == encryption.key.fingerprint
        return None if same else "key"
    if "salt" not in saved:
        return None
    if encryption.key is not None:
        return "key"
    computed = _fingerprint(encryption.passphrase, saved["salt"])
    return None if hmac.compare_digest(saved.get("hash", ""), computed) else "passphrase"


def save_fingerprint(paths, encryption):
    """Remember what this run encrypted with, for :func:`changed` (no passphrase in it)."""
    if encryption.key is not None:
        paths.write_json(paths.fingerprint, {"key": encryption.key.fingerprint})
        return
    salt = secrets.token_hex(16)
    hashed = _fingerprint(encryption.passphrase, salt)
    paths.write_json(paths.fingerprint, {"salt": salt, "hash": hashed})
