"""
Encrypted duplicity backups of the students' homes, run on the hub.

duplicity does the work (full and incremental chains, GnuPG encryption, many backends:
file://, sftp://, s3://). This module is what salt schedules call on the hub
(salt/backup), so every result is an ordinary salt job in the master's job cache, and what
an admin calls by hand, e.g. ``salt hub backup.restore alice /srv/restore/alice``.

Around duplicity it adds what cron scripts used to leave out:

- settings from the pillar ``backup:`` section (salt/backup/defaults.yaml), with errors
  that name the key;
- the passphrase only ever in duplicity's environment (``PASSPHRASE``), and a GPG key
  only on gpg's stdin, never on a command line, in a return value or in a log line;
- one lock (``flock`` on ``<work_dir>/lock``) so a run, cleanup, verify or restore never
  overlaps another; the second one is refused and says who holds the lock;
- a fixed ``--archive-dir`` and ``--name``, so duplicity's local cache survives between runs;
- parsed results: duplicity's machine-readable log (``--log-fd``) gives the statistics of a
  run and the chains of ``collection-status``; the small ``_parse_*`` functions do it;
- the last result of each function in ``<work_dir>/results.json``, which ``status`` reports
  and ``salt-run backup.status`` (_runners/backup.py) turns into an exit code;
- a full backup when the passphrase or the key changed: duplicity would otherwise append
  increments encrypted with the new one to a chain made with the old one, and neither
  could restore that chain.

Encryption is symmetric with ``backup:passphrase``, or, when ``backup:gpg_key`` holds an
ASCII-armored OpenPGP key block, to that key (duplicity ``--encrypt-key``):

- the block is imported into the module's own GnuPG home (``<work_dir>/gnupg``) before each
  run, verify and restore, and that home then holds this key and no other: a key removed
  from the pillar, or cut down to its public part, leaves no secret key behind. The
  fingerprint comes from gpg's listing of the imported key; the key needs no ownertrust
  (duplicity gets ``--trust-model=always``);
- a secret key block: backups are encrypted to it, and verify, restore and a run that
  must rebuild duplicity's cache decrypt with it; ``backup:passphrase`` is then the secret
  key's passphrase (null for a key without one). gpg-agent caches no passphrase, so a
  wrong one fails the next verify or restore (a run only encrypts, and still succeeds);
- a public key block only: ``run``, ``cleanup`` and ``status`` work, incrementals reading
  the previous signatures from duplicity's local cache (``<work_dir>/cache``); ``verify``
  and ``restore`` are refused, as they need the secret key: restore where that key is,
  or put the secret key in ``backup:gpg_key``. A hub that lost that cache (or whose cache
  is behind the target) cannot continue the chain, since duplicity would decrypt the
  target's metadata to rebuild it: the error says so. ``backup:passphrase`` is not used;
- a new key (another fingerprint), like a new passphrase, starts a new full chain; older
  chains need the older key to restore.

``run``, ``cleanup`` and ``verify`` return ``{"result": False, "error": ...}`` on failure and
set the job's retcode, rather than raise: salt's scheduler replaces the message of an
exception by "Unhandled exception running ...", and these are the functions it runs.
"""

import contextlib
import datetime
import errno
import fcntl
import glob
import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import subprocess
import tempfile
import time
import urllib.parse

from salt.exceptions import CommandExecutionError

log = logging.getLogger(__name__)

__virtualname__ = "backup"

DUPLICITY = "duplicity"
# duplicity's --name: the subdirectory of the cache that belongs to this backup.
NAME = "home"
NUM_RETRIES = 3
# Under backup:work_dir.
CACHE_DIR = "cache"
TMP_DIR = "tmp"
GNUPG_DIR = "gnupg"
SSH_KEY = "ssh/id_ed25519"
KNOWN_HOSTS = "ssh/known_hosts"
LOCK_FILE = "lock"
RESULTS_FILE = "results.json"
# What the last run encrypted with: a salted hash of the passphrase, or the key's fingerprint.
FINGERPRINT_FILE = "passphrase.fingerprint"
GPG = "gpg"
# Under GNUPG_DIR: the sha256 of the last backup:gpg_key imported; gpg-agent's settings.
KEY_DIGEST_FILE = "pillar-key.sha256"
AGENT_CONF_FILE = "gpg-agent.conf"
# No cached passphrases: every use of the secret key checks backup:passphrase.
AGENT_CONF = "default-cache-ttl 0\nmax-cache-ttl 0\n"
# Encrypting to a key nobody certified: its owner is the admin who put it in the pillar.
GPG_TRUST_OPTION = "--gpg-options=--trust-model=always"
# Target schemes that go through ssh (duplicity's paramiko or pexpect backends).
SSH_SCHEMES = {"sftp", "scp", "paramiko+sftp", "paramiko+scp", "pexpect+sftp", "pexpect+scp"}
# Longest list of paths a verify returns per kind of difference.
MAX_LISTED = 100

LEVELS = ("ERROR", "WARNING", "NOTICE", "INFO", "DEBUG")
RECORD_HEADER_RE = re.compile(r"^(ERROR|WARNING|NOTICE|INFO|DEBUG) (\d+)(?: (.*))?$")
STATISTICS_HEADER = "--------------[ Backup Statistics ]--------------"
STATISTIC_RE = re.compile(r"^([A-Za-z]+) (-?\d+(?:\.\d+)?)\b")
# What duplicity says when --full-if-older-than or a missing chain turns a run into a full.
FULL_MARKERS = (
    "forcing full backup",
    "switching to full backup",
    "Last full backup left a partial set",
)
VERIFY_TOTAL_RE = re.compile(r"Verify complete: (\d+) files? compared, (\d+) differences? found")
DIFFERENCE_PREFIX = "Difference found: "
DIFFERENCE_PATH_RES = (
    re.compile(r"^Data for file (.+) is different$"),
    re.compile(r"^New file (.+)$"),
    re.compile(r"^File (.+) is missing$"),
    re.compile(r"^File (.+) has (?:type|permissions|mtime) .+, expected .+$"),
    re.compile(r"^Symlink (.+) points to .+, expected .+$"),
    re.compile(r"^Device file (.+) has numbers .+, expected .+$"),
)


def __virtual__():
    # Everywhere: the backup target host publishes host_keys through the mine.
    return __virtualname__


# --- settings ----------------------------------------------------------------------------


def _settings():
    """The pillar's ``backup:`` section."""
    section = __pillar__.get("backup")
    if not isinstance(section, dict):
        raise CommandExecutionError(
            "pillar 'backup' is missing: this minion did not get the site pillar "
            "(is the jupyterhub_deploy ext_pillar configured on the master?)"
        )
    return section


def _required(cfg, key):
    value = cfg.get(key)
    if value is None or value == "":
        raise CommandExecutionError(f"pillar 'backup:{key}' is not set")
    return value


def _seconds(cfg, key):
    value = cfg.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise CommandExecutionError(
            f"pillar 'backup:{key}' must be a number of seconds, got {value!r} "
            "(the jupyterhub_deploy ext_pillar converts durations like 7d)"
        )
    return value


def _absolute(cfg, key, default=None):
    value = cfg.get(key) or default
    if not isinstance(value, str) or not os.path.isabs(value):
        raise CommandExecutionError(
            f"pillar 'backup:{key}' must be an absolute path, got {value!r}"
        )
    return os.path.normpath(value)


def _require_enabled(cfg, function):
    if not cfg.get("enabled"):
        raise CommandExecutionError(
            f"backups are disabled (pillar 'backup:enabled' is false): {function} refused"
        )


class _Paths:
    """Everything this module keeps under ``backup:work_dir``."""

    def __init__(self, root):
        self.root = root
        self.cache = os.path.join(root, CACHE_DIR)
        self.tmp = os.path.join(root, TMP_DIR)
        self.gnupg = os.path.join(root, GNUPG_DIR)
        self.ssh_key = os.path.join(root, SSH_KEY)
        self.known_hosts = os.path.join(root, KNOWN_HOSTS)
        self.lock = os.path.join(root, LOCK_FILE)
        self.results = os.path.join(root, RESULTS_FILE)
        self.fingerprint = os.path.join(root, FINGERPRINT_FILE)
        self.key_digest = os.path.join(self.gnupg, KEY_DIGEST_FILE)
        self.agent_conf = os.path.join(self.gnupg, AGENT_CONF_FILE)

    def make(self):
        for path in (self.root, self.cache, self.tmp, self.gnupg):
            os.makedirs(path, mode=0o700, exist_ok=True)


def _paths(cfg):
    return _Paths(_absolute(cfg, "work_dir"))


def _prepared(cfg):
    """The work directory, made, with the target host's ssh keys in its known_hosts."""
    paths = _paths(cfg)
    paths.make()
    _trust_target_host(cfg, paths)
    return paths


def _trust_target_host(cfg, paths):
    """
    Write ``ssh/known_hosts`` from the host keys ``backup:target_host`` publishes in the
    mine (``backup_host_keys``), so duplicity talks to that host and no other. Keeps the
    last keys when the mine cannot be read.
    """
    host = cfg.get("target_host")
    if not host:
        return
    try:
        keys = (__salt__["mine.get"](host, "backup_host_keys") or {}).get(host)
    except Exception as exc:  # the master may be unreachable: keep the last keys
        log.warning("backup: cannot read the mine for %s's host keys: %s", host, exc)
        keys = None
    if not keys:
        if os.path.exists(paths.known_hosts):
            return
        raise CommandExecutionError(
            f"the backup target host {host} (pillar 'backup:target_host') has not published "
            f"its ssh host keys in the mine: apply its highstate (salt/backup/target.sls) or "
            f"run `salt {host} mine.update`"
        )
    address = __pillar__["hosts"][host]
    port = urllib.parse.urlsplit(str(cfg.get("target"))).port
    if port and port != 22:
        address = f"[{address}]:{port}"
    contents = "".join(f"{address} {key}\n" for key in keys)
    os.makedirs(os.path.dirname(paths.known_hosts), mode=0o700, exist_ok=True)
    _write_if_changed(paths.known_hosts, contents)
    log.info("backup: known_hosts now holds %d host key(s) of %s", len(keys), host)


# --- pure helpers: command lines, times, parsing ------------------------------------------


def _redact(url):
    """``url`` without a password (``sftp://user:secret@host`` -> ``sftp://user:***@host``)."""
    parts = urllib.parse.urlsplit(str(url))
    if parts.password is None:
        return str(url)
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def _scrub(text, secret):
    """``text`` with every occurrence of ``secret`` replaced, for messages and logs."""
    return text.replace(secret, "***") if secret else text


def _ssh_options(target, paths):
    """duplicity's --ssh-options for an ssh target: our key and our known_hosts only."""
    if urllib.parse.urlsplit(target).scheme not in SSH_SCHEMES:
        return []
    options = [f"-oUserKnownHostsFile={paths.known_hosts}"]
    if os.path.exists(paths.ssh_key):
        options.append(f"-oIdentityFile={paths.ssh_key}")
    return ["--ssh-options=" + " ".join(options)]


def _command(action, options, positional, target, paths, log_fd, archive_dir=None):
    """The argument list of one duplicity call (no shell; no secret in it)."""
    return [
        DUPLICITY,
        action,
        *options,
        "--archive-dir",
        archive_dir or paths.cache,
        "--name",
        NAME,
        "--tempdir",
        paths.tmp,
        "--num-retries",
        str(NUM_RETRIES),
        "--log-fd",
        str(log_fd),
        *_ssh_options(target, paths),
        *positional,
    ]


def _environment(passphrase, paths):
    """
    The minion's environment, English messages, GnuPG's home in the work directory (not
    root's), and the passphrase when one is needed ("" included: duplicity asks on its
    stdin for a passphrase it needs and does not find, and a key may have none).
    """
    env = {k: v for k, v in os.environ.items() if k not in ("PASSPHRASE", "SIGN_PASSPHRASE")}
    env["LC_ALL"] = env["LANG"] = "C.UTF-8"
    env["GNUPGHOME"] = paths.gnupg
    if passphrase is not None:
        env["PASSPHRASE"] = passphrase
    return env


def _human(seconds):
    """``3h 05m``, ``2d 4h``, ``45s``: an age for people."""
    if seconds is None:
        return None
    days, rest = divmod(int(seconds), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


def _iso(epoch):
    if epoch is None:
        return None
    return datetime.datetime.fromtimestamp(int(epoch), datetime.UTC).isoformat()


def _duplicity_time(value):
    """
    A ``--time`` for duplicity from an ISO date or time (``2026-11-30``,
    ``2026-11-30T14:00:00Z``; without a zone: the hub's local time), a datetime, epoch
    seconds, or one of duplicity's own time strings (``3D``, ``2h30m``, ``now``).
    """
    if isinstance(value, datetime.datetime):
        return value.isoformat(timespec="seconds")
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(int(value))
    text = str(value).strip()
    if text.isdigit():
        return text
    try:
        return datetime.datetime.fromisoformat(text).isoformat(timespec="seconds")
    except ValueError:
        pass
    # duplicity's own forms: 3D, 2h30m, now, 11/30/2026.
    if text.startswith("-") or not re.fullmatch(r"[0-9A-Za-z:/+.-]+", text):
        raise CommandExecutionError(f"time {value!r} is not a date, a time or an interval")
    return text


def _parse_log(text):
    """
    Records of duplicity's machine-readable log (``--log-fd``) as dicts
    ``{"level", "code", "extra": [lines], "message": str}``.

    Each record is ``LEVEL CODE [extra]``, more lines of extra data, the message with
    every line prefixed by ``. ``, and a blank line.
    """
    records, current = [], None
    for line in text.splitlines():
        if current is None:
            match = RECORD_HEADER_RE.match(line)
            if match:
                extra = [match.group(3)] if match.group(3) and match.group(3).strip() else []
                current = {"level": match.group(1), "code": int(match.group(2)), "extra": extra}
                current["lines"] = []
            continue
        if line == "":
            current["message"] = "\n".join(current.pop("lines"))
            records.append(current)
            current = None
        elif line == "." or line.startswith(". "):
            current["lines"].append(line[2:])
        else:
            current["extra"].append(line)
    if current is not None:
        current["message"] = "\n".join(current.pop("lines"))
        records.append(current)
    return records


def _messages(records, level=None):
    return [r["message"] for r in records if level is None or r["level"] == level]


def _snake(name):
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _parse_statistics(records):
    """The ``Backup Statistics`` block of a run as ``{"source_files": 5, ...}``."""
    for message in _messages(records):
        lines = message.splitlines()
        if lines and lines[0].strip() == STATISTICS_HEADER:
            stats = {}
            for line in lines[1:]:
                match = STATISTIC_RE.match(line.strip())
                if match:
                    number = match.group(2)
                    stats[_snake(match.group(1))] = float(number) if "." in number else int(number)
            return stats
    return {}


def _backup_type(records, requested_full=False):
    """``full`` or ``incremental``: what a run that ended well actually made."""
    if requested_full:
        return "full"
    text = "\n".join(_messages(records))
    return "full" if any(marker in text for marker in FULL_MARKERS) else "incremental"


def _parse_set_time(stamp):
    return int(
        datetime.datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.UTC).timestamp()
    )


def _parse_collection(records):
    """
    ``collection-status`` as ``{"chains": [{"primary": bool, "sets": [{"type", "time",
    "volumes"}]}], "incomplete_sets": int, "orphaned_sets": int}``, chains oldest first.

    From the machine-readable record (INFO 3): ``chain-no-sig N`` starts an older chain,
    ``chain-complete`` the primary one, and `` full|inc YYYYMMDDTHHMMSSZ VOLUMES enc`` lines
    are their sets.
    """
    found = [r for r in records if r["level"] == "INFO" and r["code"] == 3 and r["extra"]]
    if not found:
        raise CommandExecutionError("duplicity collection-status printed no collection record")
    chains, counts = [], {"incomplete_sets": 0, "orphaned_sets": 0}
    for line in found[-1]["extra"]:
        words = line.split()
        if not words:
            continue
        if words[0] in ("chain-no-sig", "chain-complete"):
            chains.append({"primary": words[0] == "chain-complete", "sets": []})
        elif words[0] in ("full", "inc") and line.startswith(" ") and chains:
            chains[-1]["sets"].append(
                {
                    "type": "full" if words[0] == "full" else "incremental",
                    "time": _parse_set_time(words[1]),
                    "volumes": int(words[2]),
                }
            )
        elif words[0] == "incomplete-sets-num":
            counts["incomplete_sets"] = int(words[1])
        elif words[0] == "orphaned-sets-num":
            counts["orphaned_sets"] = int(words[1])
    chains = [c for c in chains if c["sets"]]
    chains.sort(key=lambda c: c["sets"][0]["time"])
    return {"chains": chains, **counts}


def _summarise(collection, now, stale_after):
    """What ``status`` reports about a parsed collection at time ``now``."""
    sets = [s for chain in collection["chains"] for s in chain["sets"]]
    fulls = [s["time"] for s in sets if s["type"] == "full"]
    incrementals = [s["time"] for s in sets if s["type"] == "incremental"]
    last = max((s["time"] for s in sets), default=None)
    age = None if last is None else max(0, int(now - last))
    return {
        "last_full": _iso(max(fulls, default=None)),
        "last_incremental": _iso(max(incrementals, default=None)),
        "last_backup": _iso(last),
        "age_seconds": age,
        "age_human": _human(age),
        "stale_after": stale_after,
        "stale_after_human": _human(stale_after),
        "stale": age is None or age > stale_after,
        "chain_count": len(collection["chains"]),
        "chains": [
            {
                "start": _iso(chain["sets"][0]["time"]),
                "end": _iso(chain["sets"][-1]["time"]),
                "sets": len(chain["sets"]),
                "primary": chain["primary"],
            }
            for chain in collection["chains"]
        ],
        "incomplete_sets": collection["incomplete_sets"],
    }


def _parse_verify(records):
    """
    ``verify --compare-data`` as ``{"compared", "differences", "data_mismatches": [paths],
    "changed_since_backup": [paths]}``.

    "Data for file X is different" means X has the type, permissions and mtime the backup
    recorded but other contents: the backup or the disk is wrong. Every other difference
    (new, missing, newer files) is a change made since the last backup.
    """
    compared = differences = None
    mismatches, changed = [], []
    for message in _messages(records):
        total = VERIFY_TOTAL_RE.search(message)
        if total:
            compared, differences = int(total.group(1)), int(total.group(2))
        if not message.startswith(DIFFERENCE_PREFIX):
            continue
        detail = message[len(DIFFERENCE_PREFIX) :].strip()
        path = detail
        for pattern in DIFFERENCE_PATH_RES:
            match = pattern.match(detail)
            if match:
                path = match.group(1)
                break
        (mismatches if detail.startswith("Data for file ") else changed).append(path)
    return {
        "compared": compared,
        "differences": differences if differences is not None else len(mismatches) + len(changed),
        "data_mismatches": mismatches,
        "changed_since_backup": changed,
    }


def _parse_removed_chains(records):
    """How many chains remove-all-but-n-full deleted."""
    for message in _messages(records):
        lines = message.splitlines()
        if lines and lines[0].startswith("Deleting backup chain"):
            return len([line for line in lines[1:] if line.strip()])
    return 0


def _relative_path(path):
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


def _inside(path, root):
    return path == root or path.startswith(root.rstrip("/") + "/")


def _check_restore_target(target, source, relative, force):
    """The absolute restore destination, or an error saying why it is refused."""
    if not isinstance(target, str) or not os.path.isabs(target):
        raise CommandExecutionError(f"restore target {target!r} must be an absolute path")
    dest = os.path.realpath(target)
    home = os.path.realpath(source)
    if dest == home and relative is not None:
        raise CommandExecutionError(
            f"restoring {relative!r} into {source} itself would spread its files over "
            f"{source}; target {os.path.join(source, relative)} instead"
        )
    if _inside(dest, home) and not force:
        raise CommandExecutionError(
            f"restore target {target} is inside {source}, the backed-up directory: "
            "pass force=True to restore there"
        )
    if os.path.lexists(dest) and not force:
        if not os.path.isdir(dest) or os.listdir(dest):
            raise CommandExecutionError(
                f"restore target {target} exists and is not empty: choose a new directory "
                "or pass force=True to overwrite"
            )
    return dest


# --- running duplicity ---------------------------------------------------------------------


class _Result:
    def __init__(self, returncode, stdout, stderr, log_text):
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        self.records = _parse_log(log_text)


def _execute(argv, env, log_fd):
    """Run duplicity; a seam for the unit tests."""
    return subprocess.run(
        argv,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        errors="replace",
        env=env,
        pass_fds=(log_fd,),
        check=False,
    )


def _duplicity(action, options, positional, target, paths, passphrase=None, archive_dir=None):
    paths.make()
    with tempfile.TemporaryFile(dir=paths.tmp) as log_file:
        fd = log_file.fileno()
        argv = _command(action, options, positional, target, paths, fd, archive_dir)
        log.debug("backup: running %s", " ".join(argv))
        try:
            proc = _execute(argv, _environment(passphrase, paths), fd)
        except FileNotFoundError:
            raise CommandExecutionError(
                "duplicity is not installed (the backup state installs it: salt/backup)"
            ) from None
        log_file.seek(0)
        log_text = log_file.read().decode("utf-8", "replace")
    return _Result(proc.returncode, proc.stdout, proc.stderr, log_text)


def _failure(what, result, target, secret, encryption=None):
    """A one-paragraph reason for a failed duplicity call."""
    errors = _messages(result.records, "ERROR")
    detail = errors[-1].strip() if errors else ""
    if not detail:
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        detail = "\n".join(lines[-5:]) or result.stdout.strip()[-500:]
    text = f"duplicity {what} of {_redact(target)} failed (exit {result.returncode}): {detail}"
    output = result.stdout + result.stderr
    if "EOF when reading a line" in output or "authenticity of host" in output:
        text += (
            " -- the target's ssh host key is unknown: it belongs in <backup:work_dir>/ssh/"
            "known_hosts (written from backup:target_host's mine entry) or in "
            "/etc/ssh/ssh_known_hosts"
        )
    text += _key_hint(encryption, "\n".join(_messages(result.records)) + output)
    return _scrub(text, secret)


# --- lock and results --------------------------------------------------------------------


class _Busy(CommandExecutionError):
    """Another run, cleanup, verify or restore holds the lock."""


def _read_holder(path):
    try:
        with open(path, encoding="utf-8") as handle:
            return json.loads(handle.read() or "null")
    except (OSError, ValueError):
        return None


def _pid_alive(pid):
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, TypeError, ValueError):
        return True
    return True


@contextlib.contextmanager
def _locked(paths, function):
    """Hold ``<work_dir>/lock`` (flock, never waiting) while ``function`` runs."""
    paths.make()
    fd = os.open(paths.lock, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise
            holder = _read_holder(paths.lock) or {}
            who = (
                f"{holder.get('function')} (pid {holder.get('pid')}, since {holder.get('since')})"
                if holder
                else "unknown holder"
            )
            raise _Busy(
                f"another backup is running: {who} holds {paths.lock}; {function} refused"
            ) from None
        holder = {"function": function, "pid": os.getpid(), "since": _iso(time.time())}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(holder).encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
    finally:
        os.close(fd)


def _running(paths):
    """Who holds the lock now (``{"function", "pid", "since"}``), or None."""
    holder = _read_holder(paths.lock)
    if isinstance(holder, dict) and _pid_alive(holder.get("pid")):
        return holder
    return None


def _write_text(path, text):
    """Replace ``path`` atomically with ``text`` (mode 0600)."""
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".tmp-")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(tmp, path)


def _write_if_changed(path, text):
    """:func:`_write_text` unless ``path`` already holds ``text``; True when it wrote."""
    try:
        with open(path, encoding="utf-8") as handle:
            if handle.read() == text:
                return False
    except FileNotFoundError:
        pass
    _write_text(path, text)
    return True


def _write_json(path, data):
    _write_text(path, json.dumps(data, indent=1, sort_keys=True))


def _last_results(paths):
    data = _read_holder(paths.results)
    return data if isinstance(data, dict) else {}


def _record(paths, function, result):
    """Keep the outcome of ``function`` for status (and so for salt-run backup.status)."""
    entry = {
        "result": bool(result.get("result")),
        "time": _iso(time.time()),
        "error": result.get("error"),
    }
    if "type" in result:
        entry["type"] = result["type"]
    try:
        paths.make()
        results = _last_results(paths)
        results[function] = entry
        _write_json(paths.results, results)
    except OSError as exc:
        log.warning(
            "backup: cannot record the result of %s in %s: %s", function, paths.results, exc
        )


def _reported(function, body, *args, **kwargs):
    """
    Run ``body`` for the scheduled ``function``: a failure becomes ``{"result": False,
    "error"}`` with a non-zero job retcode, and every outcome but "locked" is recorded.
    """
    try:
        result = body(*args, **kwargs)
    except CommandExecutionError as exc:
        result = {"result": False, "error": str(exc)}
        log.error("backup.%s failed: %s", function, exc)
        if not isinstance(exc, _Busy):
            with contextlib.suppress(CommandExecutionError):
                _record(_paths(_settings()), function, result)
    else:
        _record(_paths(_settings()), function, result)
    if not result["result"]:
        __context__["retcode"] = 1
    return result


# --- encryption: a passphrase or a GPG key -----------------------------------------------


class _Key:
    """A primary key as gpg lists it."""

    def __init__(self, fingerprint=None, encrypt=False, secret=False):
        self.fingerprint = fingerprint
        # The key can encrypt (it has a valid encryption (sub)key).
        self.encrypt = encrypt
        # The secret part of an encryption (sub)key is here, so it can decrypt.
        self.secret = secret


class _Encryption:
    """
    What duplicity encrypts with: ``key`` (a _Key) or None for the symmetric passphrase,
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


def _encryption(cfg, paths):
    """
    The _Encryption of the pillar: to ``backup:gpg_key`` when it is set (imported first,
    see _install_key), else symmetric with ``backup:passphrase``. Call it under the lock.
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
        return _Encryption(None, str(passphrase))
    key = _install_key(paths, str(armored))
    # A public key decrypts nothing: duplicity must not try (with a passphrase it would).
    passphrase = str(cfg.get("passphrase") or "") if key.secret else ""
    return _Encryption(key, passphrase)


def _require_secret(encryption, function):
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
    The primary keys of a ``gpg --with-colons`` listing as ``{fingerprint: _Key}``.

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
            current = _Key(encrypt="E" in fields[11])
        elif kind == "fpr" and current is not None and current.fingerprint is None:
            current.fingerprint = fields[9]
            keys[current.fingerprint] = current
        if kind in ("sec", "ssb") and current is not None and "e" in fields[11]:
            current.secret = current.secret or fields[14] not in ("", "#")
    return keys


def _keyring(paths):
    """The keys in the module's GnuPG home, with their secret parts, ``{fingerprint: _Key}``."""
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
    if not _write_if_changed(paths.agent_conf, AGENT_CONF):
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
    saved = _read_holder(paths.key_digest)
    if len(keys) != 1 or saved != digest:
        _remove_keys(paths, keys)
        # No digest yet, but the file says keys may be here (for _remove_keys).
        _write_json(paths.key_digest, None)
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
        _write_json(paths.key_digest, digest)
    (key,) = keys.values()
    if not key.encrypt:
        raise CommandExecutionError(
            f"the key {key.fingerprint} in pillar 'backup:gpg_key' cannot encrypt: it has no "
            "valid encryption subkey (expired, revoked, or a signing-only key)"
        )
    return key


def _key_hint(encryption, output):
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


def _encryption_changed(paths, encryption):
    """
    ``"passphrase"`` or ``"key"`` when the last run encrypted with another passphrase or
    key than ``encryption`` (``"key"`` also for a switch between the two), else None (also
    when unknown).
    """
    saved = _read_holder(paths.fingerprint)
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


def _save_fingerprint(paths, encryption):
    if encryption.key is not None:
        _write_json(paths.fingerprint, {"key": encryption.key.fingerprint})
        return
    salt = secrets.token_hex(16)
    hashed = _fingerprint(encryption.passphrase, salt)
    _write_json(paths.fingerprint, {"salt": salt, "hash": hashed})


# --- the functions -----------------------------------------------------------------------


def _run(full):
    cfg = _settings()
    _require_enabled(cfg, "backup.run")
    target = _required(cfg, "target")
    full_every = _seconds(cfg, "full_every")
    source = _absolute(cfg, "source", "/home")
    if not os.path.isdir(source):
        raise CommandExecutionError(f"pillar 'backup:source' {source} is not a directory")
    paths = _prepared(cfg)
    with _locked(paths, "backup.run"):
        encryption = _encryption(cfg, paths)
        passphrase = encryption.passphrase
        changed = _encryption_changed(paths, encryption)
        forced = bool(full) or changed is not None
        if forced:
            action, options = "full", []
        else:
            action, options = "incremental", ["--full-if-older-than", f"{full_every}s"]
        options += encryption.options()
        started = time.time()
        result = _duplicity(action, options, [source, target], target, paths, passphrase)
        elapsed = time.time() - started
        if result.returncode != 0:
            message = _failure("backup", result, target, passphrase, encryption)
            raise CommandExecutionError(message)
        _save_fingerprint(paths, encryption)
    summary = {
        "result": True,
        "type": _backup_type(result.records, forced),
        "source": source,
        "target": _redact(target),
        "started": _iso(started),
        "elapsed": round(elapsed, 2),
    }
    if changed:
        summary[f"{changed}_changed"] = True
    stats = _parse_statistics(result.records)
    for key in ("start_time", "end_time", "elapsed_time"):
        stats.pop(key, None)
    summary.update(stats)
    log.info(
        "backup.run: %s backup of %s to %s in %.1f s, %s files changed, %s new, %s deleted",
        summary["type"],
        source,
        summary["target"],
        elapsed,
        stats.get("changed_files"),
        stats.get("new_files"),
        stats.get("deleted_files"),
    )
    return summary


def run(full=False):
    """
    Back up ``backup:source`` (default /home) to ``backup:target`` with duplicity.

    A full backup when the last full is older than ``backup:full_every`` (or there is none,
    or ``full=True``, or the passphrase or key changed since the last run: then
    ``"passphrase_changed"`` or ``"key_changed"`` is True), else an incremental one.
    Refused while another backup function holds the lock. Returns ``{"result": True,
    "type": "full"|"incremental", "source", "target", "started", "elapsed" (seconds),
    "source_files", "source_file_size", "new_files", "new_file_size", "deleted_files",
    "changed_files", "changed_file_size", "changed_delta_size", "delta_entries",
    "raw_delta_size", "total_destination_size_change", "errors"}`` (sizes in bytes, from
    duplicity's statistics), or ``{"result": False, "error"}`` with a non-zero retcode.

    CLI Example:

    .. code-block:: bash

        salt hub backup.run
        salt hub backup.run full=True
    """
    return _reported("run", _run, full)


def _cleanup():
    cfg = _settings()
    _require_enabled(cfg, "backup.cleanup")
    target = _required(cfg, "target")
    keep = cfg.get("keep_full")
    if isinstance(keep, bool) or not isinstance(keep, int) or keep < 1:
        raise CommandExecutionError(f"pillar 'backup:keep_full' must be at least 1, got {keep!r}")
    paths = _prepared(cfg)
    with _locked(paths, "backup.cleanup"):
        started = time.time()
        options = [str(keep), "--force"]
        result = _duplicity("remove-all-but-n-full", options, [target], target, paths)
        if result.returncode != 0:
            raise CommandExecutionError(_failure("cleanup", result, target, None))
    return {
        "result": True,
        "keep_full": keep,
        "removed_chains": _parse_removed_chains(result.records),
        "target": _redact(target),
        "elapsed": round(time.time() - started, 2),
    }


def cleanup():
    """
    Delete every backup chain but the last ``backup:keep_full`` full ones (duplicity
    ``remove-all-but-n-full --force``). Returns ``{"result": True, "keep_full",
    "removed_chains", "target", "elapsed"}`` or ``{"result": False, "error"}``.

    CLI Example:

    .. code-block:: bash

        salt hub backup.cleanup
    """
    return _reported("cleanup", _cleanup)


def _verify(strict):
    cfg = _settings()
    _require_enabled(cfg, "backup.verify")
    target = _required(cfg, "target")
    source = _absolute(cfg, "source", "/home")
    paths = _prepared(cfg)
    with _locked(paths, "backup.verify"):
        encryption = _encryption(cfg, paths)
        _require_secret(encryption, "backup.verify")
        passphrase = encryption.passphrase
        started = time.time()
        options = ["--compare-data"]
        result = _duplicity("verify", options, [target, source], target, paths, passphrase)
    report = _parse_verify(result.records)
    if result.returncode not in (0, 1) or (result.returncode == 1 and not report["differences"]):
        raise CommandExecutionError(_failure("verify", result, target, passphrase, encryption))
    mismatches, changed = report["data_mismatches"], report["changed_since_backup"]
    summary = {
        "result": not mismatches and not (strict and changed),
        "compared": report["compared"],
        "differences": report["differences"],
        "data_mismatches": mismatches[:MAX_LISTED],
        "changed_since_backup": changed[:MAX_LISTED],
        "target": _redact(target),
        "elapsed": round(time.time() - started, 2),
    }
    if mismatches:
        summary["error"] = (
            f"{len(mismatches)} file(s) differ from the backup although their type, "
            f"permissions and mtime match it (backup or disk damaged?): "
            + ", ".join(mismatches[:10])
        )
    elif strict and changed:
        listed = ", ".join(changed[:10])
        summary["error"] = f"{len(changed)} file(s) changed since the last backup: {listed}"
    return summary


def verify(strict=False):
    """
    Compare the latest backup with ``backup:source``, contents included (duplicity
    ``verify --compare-data``): every volume is fetched and decrypted, so with a
    ``backup:gpg_key`` it needs the secret key and is refused with a public key only.

    Files changed since the last backup (new, deleted, newer mtime) are listed under
    ``changed_since_backup`` and only fail the verify with ``strict=True``: on a live /home
    there are always some. A file whose contents differ while its metadata matches the
    backup is listed under ``data_mismatches`` and always fails it. Returns ``{"result",
    "compared", "differences", "data_mismatches", "changed_since_backup", "target",
    "elapsed"}`` plus ``"error"`` on failure (non-zero retcode).

    CLI Example:

    .. code-block:: bash

        salt hub backup.verify
        salt hub backup.verify strict=True
    """
    return _reported("verify", _verify, bool(strict))


def status():
    """
    The backups at ``backup:target``, from duplicity ``collection-status``.

    Returns a dict:

    - ``enabled``, ``source``, ``target`` (without any password);
    - ``last_full``, ``last_incremental``, ``last_backup``: ISO times (UTC) of the complete
      backup sets, None when there is none;
    - ``age_seconds``, ``age_human``: the age of ``last_backup``; ``stale_after``;
      ``stale``: no backup, or older than ``backup:stale_after``;
    - ``chain_count``, ``chains``: ``[{"start", "end", "sets", "primary"}]``, oldest first;
      ``incomplete_sets``: sets left by interrupted runs (or the one running now);
    - ``running``: ``{"function", "pid", "since"}`` of the lock's holder, or None;
    - ``last_results``: ``{"run"|"cleanup"|"verify": {"result", "time", "error"}}``.

    Needs neither the lock nor the passphrase or key: it lists the target into a scratch
    cache, so it answers while a backup runs.

    CLI Example:

    .. code-block:: bash

        salt hub backup.status
    """
    cfg = _settings()
    target = cfg.get("target")
    if not target and not cfg.get("enabled"):
        return {"enabled": False, "target": None}
    target = _required(cfg, "target")
    stale_after = _seconds(cfg, "stale_after")
    paths = _prepared(cfg)
    with tempfile.TemporaryDirectory(dir=paths.tmp, prefix="status-") as scratch:
        result = _duplicity("collection-status", [], [target], target, paths, archive_dir=scratch)
    if result.returncode != 0:
        raise CommandExecutionError(_failure("collection-status", result, target, None))
    summary = _summarise(_parse_collection(result.records), time.time(), stale_after)
    return {
        "enabled": bool(cfg.get("enabled")),
        "source": _absolute(cfg, "source", "/home"),
        "target": _redact(target),
        **summary,
        "running": _running(paths),
        "last_results": _last_results(paths),
    }


def restore(path, target, time=None, force=False):
    """
    Restore ``path`` (relative to ``backup:source``: ``alice`` is /home/alice, ``.`` is
    everything) as it was at ``time`` (default: the latest backup) into the directory
    ``target``.

    ``time`` is an ISO date or time (``2026-11-30T14:00:00Z``; without a zone the hub's
    local time), epoch seconds, or a duplicity time string (``3D``, ``2h30m``): the backup
    taken at or before it is used. Refused when ``target`` exists and is not empty, or lies
    inside ``backup:source`` (/home), unless ``force=True``; ``path`` must not be absolute
    or contain ``..``. Files keep their owners and modes. With a ``backup:gpg_key`` it
    needs the secret key, and is refused with a public key only. Returns ``{"result": True,
    "path", "target", "time", "files", "elapsed"}``.

    CLI Example:

    .. code-block:: bash

        salt hub backup.restore alice /srv/restore/alice time=2026-11-30T14:00:00Z
        salt hub backup.restore alice /home/alice force=True
    """
    cfg = _settings()
    remote = _required(cfg, "target")
    source = _absolute(cfg, "source", "/home")
    relative = _relative_path(path)
    dest = _check_restore_target(target, source, relative, bool(force))
    when = _duplicity_time(time) if time is not None else None
    paths = _prepared(cfg)
    options = []
    if relative is not None:
        options.append(f"--file-to-restore={relative}")
    if when is not None:
        options.append(f"--time={when}")
    with _locked(paths, "backup.restore"):
        encryption = _encryption(cfg, paths)
        _require_secret(encryption, "backup.restore")
        passphrase = encryption.passphrase
        if os.path.lexists(dest):
            options.append("--force")
        started = _now()
        result = _duplicity("restore", options, [remote, dest], remote, paths, passphrase)
    if result.returncode != 0:
        message = _failure("restore", result, remote, passphrase, encryption)
        raise CommandExecutionError(message)
    files = sum(len(f) for _, _, f in os.walk(dest)) if os.path.isdir(dest) else 1
    return {
        "result": True,
        "path": relative or ".",
        "target": dest,
        "time": when or "latest",
        "files": files,
        "elapsed": round(_now() - started, 2),
    }


def _now():
    # restore() has a parameter called time.
    return time.time()


def ssh_public_key():
    """
    The hub's public ssh key for sftp backup targets (``<work_dir>/ssh/id_ed25519.pub``,
    made by salt/backup), or None before it exists. Published through the mine to the
    ``backup:target_host``, which authorises it for sftp only.

    CLI Example:

    .. code-block:: bash

        salt hub backup.ssh_public_key
    """
    path = _paths(_settings()).ssh_key + ".pub"
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read().strip() or None
    except FileNotFoundError:
        return None


def host_keys(keydir="/etc/ssh"):
    """
    This host's public ssh host keys as ``["ssh-ed25519 AAAA...", ...]`` (sorted), for the
    hub's known_hosts. Public keys only, whatever the arguments: unlike ``ssh.host_keys``
    this cannot put private keys in the mine.

    CLI Example:

    .. code-block:: bash

        salt node2 backup.host_keys
    """
    keys = []
    for path in sorted(glob.glob(os.path.join(keydir, "ssh_host_*_key.pub"))):
        with open(path, encoding="utf-8") as handle:
            fields = handle.read().split()
        if len(fields) >= 2:
            keys.append(f"{fields[0]} {fields[1]}")
    return keys
