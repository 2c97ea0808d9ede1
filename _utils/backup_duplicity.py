"""
duplicity for _modules/backup.py: its command line and environment, one call with its
machine-readable log (``--log-fd``), and that log parsed: a run's statistics and type,
``collection-status`` chains, ``verify`` differences, the chains a cleanup removed, and the
reason of a failure. Also restore's ``--time``.

Reached through ``__utils__["backup_duplicity.<function>"]``; the work directory comes as
the Paths object of _utils/backup_records.py.
"""

import datetime
import logging
import os
import re
import tempfile
import urllib.parse

from salt.exceptions import CommandExecutionError

log = logging.getLogger(__name__)

DUPLICITY = "duplicity"
# duplicity's --name: the subdirectory of the cache that belongs to this backup.
NAME = "home"
NUM_RETRIES = 3
# Target schemes that go through ssh (duplicity's paramiko or pexpect backends).
SSH_SCHEMES = {"sftp", "scp", "paramiko+sftp", "paramiko+scp", "pexpect+sftp", "pexpect+scp"}

VERSION_RE = re.compile(r"^duplicity (\d+)\.(\d+)", re.MULTILINE)
RECORD_HEADER_RE = re.compile(r"^(ERROR|WARNING|NOTICE|INFO|DEBUG) (\d+)(?: (.*))?$")
STATISTICS_HEADER = "--------------[ Backup Statistics ]--------------"
STATISTIC_RE = re.compile(r"^([A-Za-z]+) (-?\d+(?:\.\d+)?)\b")
# What duplicity says when --full-if-older-than or a missing chain turns a run into a full.
FULL_MARKERS = (
    "forcing full backup",
    "switching to full backup",
    "Last full backup left a partial set",
)
# 0.8: "5 files compared, 4 differences found"; 3.x: "6 file(s) compared, 4 difference(s) found".
VERIFY_TOTAL_RE = re.compile(
    r"Verify complete: (\d+) files?(?:\(s\))? compared, (\d+) differences?(?:\(s\))? found"
)
DIFFERENCE_PREFIX = "Difference found: "
DIFFERENCE_PATH_RES = (
    re.compile(r"^Data for file (.+) is different$"),
    re.compile(r"^New file (.+)$"),
    re.compile(r"^File (.+) is missing$"),
    re.compile(r"^File (.+) has (?:type|permissions|mtime) .+, expected .+$"),
    re.compile(r"^Symlink (.+) points to .+, expected .+$"),
    re.compile(r"^Device file (.+) has numbers .+, expected .+$"),
)


# --- the command line --------------------------------------------------------------------


def redact(url):
    """``url`` without a password (``sftp://user:secret@host`` -> ``sftp://user:***@host``)."""
    parts = urllib.parse.urlsplit(str(url))
    if parts.password is None:
        return str(url)
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def scrub(text, secret):
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


def command(action, options, positional, target, paths, log_fd, archive_dir=None):
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


def environment(passphrase, paths):
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


def duplicity_time(value):
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


def version(execute):
    """The installed duplicity's ``(major, minor)``, from ``duplicity --version``."""
    env = dict(os.environ, LC_ALL="C.UTF-8", LANG="C.UTF-8")
    try:
        proc = execute([DUPLICITY, "--version"], env)
    except FileNotFoundError:
        raise CommandExecutionError(
            "duplicity is not installed (the backup state installs it: salt/backup)"
        ) from None
    match = VERSION_RE.search(proc.stdout or "")
    if proc.returncode != 0 or not match:
        said = (proc.stdout + proc.stderr).strip()[-200:]
        raise CommandExecutionError(f"duplicity --version did not say a version: {said!r}")
    return int(match.group(1)), int(match.group(2))


def restore_options(relative, when, found_version):
    """restore's options: the path inside the backup (``None``: all of it) and the time."""
    options = []
    if relative is not None:
        # duplicity 2.0 renamed --file-to-restore, and 3.x no longer knows the old name.
        name = "--path-to-restore" if found_version >= (2, 0) else "--file-to-restore"
        options.append(f"{name}={relative}")
    if when is not None:
        options.append(f"--time={when}")
    return options


# --- one call ------------------------------------------------------------------------------


class Result:
    """How a duplicity call ended: its exit code, output, and the records of its log."""

    def __init__(self, returncode, stdout, stderr, log_text):
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        self.records = parse_log(log_text)

    @property
    def output(self):
        """All duplicity said: the messages of its log, stdout, stderr."""
        return "\n".join(messages(self.records)) + self.stdout + self.stderr


def call(execute, action, options, positional, target, paths, passphrase=None, archive_dir=None):
    """
    Run one duplicity ``action`` through ``execute(argv, env, log_fd)`` (the module's seam,
    a subprocess.run) with its log in a file under ``<work_dir>/tmp``; its Result.
    """
    paths.make()
    with tempfile.TemporaryFile(dir=paths.tmp) as log_file:
        fd = log_file.fileno()
        argv = command(action, options, positional, target, paths, fd, archive_dir)
        log.debug("backup: running %s", " ".join(argv))
        try:
            proc = execute(argv, environment(passphrase, paths), fd)
        except FileNotFoundError:
            raise CommandExecutionError(
                "duplicity is not installed (the backup state installs it: salt/backup)"
            ) from None
        log_file.seek(0)
        log_text = log_file.read().decode("utf-8", "replace")
    return Result(proc.returncode, proc.stdout, proc.stderr, log_text)


def failure(what, result, target, secret, hint=""):
    """A one-paragraph reason for a failed duplicity call, ``hint`` added, ``secret`` hidden."""
    errors = messages(result.records, "ERROR")
    detail = errors[-1].strip() if errors else ""
    if not detail:
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        detail = "\n".join(lines[-5:]) or result.stdout.strip()[-500:]
    text = f"duplicity {what} of {redact(target)} failed (exit {result.returncode}): {detail}"
    output = result.stdout + result.stderr
    if "EOF when reading a line" in output or "authenticity of host" in output:
        text += (
            " -- the target's ssh host key is unknown: it belongs in <backup:work_dir>/ssh/"
            "known_hosts (written from backup:target_host's mine entry) or in "
            "/etc/ssh/ssh_known_hosts"
        )
    return scrub(text + hint, secret)


# --- the log -------------------------------------------------------------------------------


def parse_log(text):
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


def messages(records, level=None):
    """The messages of ``records`` (of one ``level`` only, if given)."""
    return [r["message"] for r in records if level is None or r["level"] == level]


def _snake(name):
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def parse_statistics(records):
    """The ``Backup Statistics`` block of a run as ``{"source_files": 5, ...}``."""
    for message in messages(records):
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


def backup_type(records, requested_full=False):
    """``full`` or ``incremental``: what a run that ended well actually made."""
    if requested_full:
        return "full"
    text = "\n".join(messages(records))
    return "full" if any(marker in text for marker in FULL_MARKERS) else "incremental"


def _parse_set_time(stamp):
    return int(
        datetime.datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.UTC).timestamp()
    )


def parse_collection(records):
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


def parse_verify(records):
    """
    ``verify --compare-data`` as ``{"compared", "differences", "data_mismatches": [paths],
    "changed_since_backup": [paths]}``.

    "Data for file X is different" means X has the type, permissions and mtime the backup
    recorded but other contents: the backup or the disk is wrong. Every other difference
    (new, missing, newer files) is a change made since the last backup.
    """
    compared = differences = None
    mismatches, changed = [], []
    for message in messages(records):
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


def parse_removed_chains(records):
    """How many chains remove-all-but-n-full deleted."""
    for message in messages(records):
        lines = message.splitlines()
        if lines and lines[0].startswith("Deleting backup chain"):
            return len([line for line in lines[1:] if line.strip()])
    return 0
