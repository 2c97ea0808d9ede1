"""
``backup.restore`` of _modules/backup.py (its docstring says what it does): where it puts
the files, and how they get there without root ever following a path a student controls.

duplicity runs as root and opens, chowns and chmods every name it restores. Into a
student's home that would follow any symlink the student left there (``notes.txt ->
/etc/...``): root would write a file of the student's choosing, owned by the student. So a
restore always lands in a fresh root-only directory under ``<work_dir>/tmp`` first, and is
then handed back:

- into a student's home (a target under ``backup:source``, with ``force=True``): by ``tar``
  running as the owner of that home (``setpriv``: their uid, gid and groups, no new
  privileges), so it can do nothing the student could not do themselves, whatever links
  they left;
- anywhere else (root's own directory, e.g. ``/root/alice-restored``): moved there, or
  extracted by root's ``tar`` when it exists already; a target that reaches into
  ``backup:source`` through a symlink is refused.

``restore`` is the whole of it, handed the Job of _utils/backup_jobs.py; the rest are its
steps. Reached through ``__utils__["backup_restore.<function>"]``.
"""

import collections
import contextlib
import os
import pwd
import shlex
import shutil
import stat
import subprocess
import tempfile
import time

from salt.exceptions import CommandExecutionError

# What duplicity restores into, inside the staging directory.
STAGED = "restored"

# ``path``: where the files go; ``owner``: ``(uid, gid, user name or None)`` of the home
# they go into, or None for a directory of root's.
Destination = collections.namedtuple("Destination", "path owner")


def _inside(path, root):
    return path == root or path.startswith(root.rstrip("/") + "/")


def destination(target, source, relative, force):
    """The Destination of a restore into ``target``, or an error saying why it is refused."""
    if not isinstance(target, str) or not os.path.isabs(target) or "\0" in target:
        raise CommandExecutionError(f"restore target {target!r} must be an absolute path")
    if ".." in target.split("/"):
        raise CommandExecutionError(f"restore target {target!r} must not contain '..'")
    dest = os.path.normpath(target)
    for root in dict.fromkeys((os.path.normpath(source), os.path.realpath(source))):
        if _inside(dest, root):
            return _into_home(target, dest, root, source, relative, force)
    # Outside the backed-up tree: root's. No prefix may lead into it through a link.
    home = os.path.realpath(source)
    prefix = "/"
    for part in dest.split("/")[1:]:
        prefix = os.path.join(prefix, part)
        if _inside(os.path.realpath(prefix), home):
            raise CommandExecutionError(
                f"restore target {target} leads into {source} through the symlink {prefix}: "
                f"give the path under {source} itself"
            )
    if os.path.lexists(dest) and not force:
        if not os.path.isdir(dest) or os.listdir(dest):
            raise CommandExecutionError(
                f"restore target {target} exists and is not empty: choose a new directory "
                "or pass force=True to overwrite"
            )
    return Destination(dest, None)


def _into_home(target, dest, root, source, relative, force):
    below = os.path.relpath(dest, root)
    if below == ".":
        what = f"restoring {relative!r}" if relative else "restoring everything"
        raise CommandExecutionError(
            f"{what} into {source} itself is refused: restore one student's home into it "
            f"(e.g. target {os.path.join(source, relative or 'alice')}), or everything into "
            f"a new directory outside {source}"
        )
    if not force:
        raise CommandExecutionError(
            f"restore target {target} is inside {source}, the backed-up directory: "
            "pass force=True to restore there"
        )
    top = os.path.join(root, below.split("/")[0])
    try:
        info = os.lstat(top)
    except FileNotFoundError:
        raise CommandExecutionError(
            f"restore target {target}: there is no home {top} to restore into"
        ) from None
    if not stat.S_ISDIR(info.st_mode):
        raise CommandExecutionError(f"restore target {target}: {top} is not a directory")
    if info.st_uid == 0:
        raise CommandExecutionError(
            f"restore target {target}: {top} is owned by root, not by a student: restore "
            f"outside {source} instead"
        )
    try:
        name = pwd.getpwuid(info.st_uid).pw_name
    except KeyError:
        name = None
    return Destination(dest, (info.st_uid, info.st_gid, name))


@contextlib.contextmanager
def staging(tmp_dir):
    """A fresh root-only directory under ``tmp_dir``; yields where duplicity restores to."""
    directory = tempfile.mkdtemp(dir=tmp_dir, prefix="restore-")
    try:
        yield os.path.join(directory, STAGED)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def count_files(staged):
    """Files (and links) restored: everything but directories."""
    if not os.path.isdir(staged) or os.path.islink(staged):
        return 1 if os.path.lexists(staged) else 0
    return sum(len(files) for _, _, files in os.walk(staged))


def hand_back(staged, dest):
    """Put what duplicity restored at ``staged`` in place at ``dest`` (a Destination)."""
    if not os.path.lexists(staged):
        raise CommandExecutionError(f"duplicity restored nothing (no {staged})")
    if os.path.isdir(staged) and not os.path.islink(staged):
        source_dir, member, into = staged, ".", dest.path
    else:
        # One file: name it as the target inside the root-only staging directory.
        parent = os.path.dirname(staged)
        named = os.path.join(parent, os.path.basename(dest.path))
        if named != staged:
            os.rename(staged, named)
        source_dir, member = parent, "./" + os.path.basename(dest.path)
        into = os.path.dirname(dest.path)
    if dest.owner is None and member == "." and not os.path.lexists(dest.path):
        os.makedirs(os.path.dirname(dest.path), mode=0o700, exist_ok=True)
        with contextlib.suppress(OSError):  # another filesystem: copied below
            os.rename(staged, dest.path)
            return
    _copy(source_dir, member, into, dest.owner)


def _copy(source_dir, member, into, owner):
    """``tar`` from root's staging directory into ``into``, as ``owner`` when it is a student."""
    reader = ["tar", "--create", "--numeric-owner", "--file=-", "--directory", source_dir, member]
    extract = [
        "tar", "--extract", "--file=-", "--preserve-permissions", "--delay-directory-restore"
    ]  # fmt: skip
    if owner is None:
        os.makedirs(into, mode=0o700, exist_ok=True)
        writer = extract + ["--same-owner", "--numeric-owner", "--directory", into]
    else:
        uid, gid, name = owner
        groups = "--init-groups" if name else "--clear-groups"
        # mkdir and tar as the student: a link they left in the way leads only where they
        # could write anyway.
        script = f'mkdir -p -- "$1" && exec {shlex.join(extract)} --directory "$1"'
        writer = ["setpriv", f"--reuid={uid}", f"--regid={gid}", groups, "--no-new-privs"]
        writer += ["--reset-env", "--", "sh", "-c", script, "sh", into]
    with subprocess.Popen(reader, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd="/") as r:
        written = subprocess.run(
            writer, stdin=r.stdout, capture_output=True, text=True, cwd="/", check=False
        )
        r.stdout.close()
        read_error = r.stderr.read().decode(errors="replace")
    if r.returncode != 0 or written.returncode != 0:
        who = "root" if owner is None else f"uid {owner[0]}"
        detail = " / ".join((read_error + written.stderr).strip().splitlines()[-5:])
        raise CommandExecutionError(
            f"restore: copying the restored files into {into} as {who} failed: {detail}"
        )


# --- the whole restore ---------------------------------------------------------------------


def restore(job, path, target, at, force):
    """
    ``backup.restore`` (its docstring in _modules/backup.py says what it does): ``job`` is
    the Job of _utils/backup_jobs.py, ``at`` its ``time`` argument.
    """
    cfg, utils = job.cfg, job.utils
    remote = utils["backup_checks.required"](cfg, "target")
    source = utils["backup_checks.absolute"](cfg, "source", "/home")
    relative = utils["backup_checks.relative_path"](path)
    dest = destination(target, source, relative, bool(force))
    when = utils["backup_duplicity.duplicity_time"](at) if at is not None else None
    paths = job.prepared()
    options = utils["backup_duplicity.restore_options"](relative, when, job.version())
    with utils["backup_records.locked"](paths, "backup.restore"):
        encryption = utils["backup_gpg.encryption"](cfg, paths)
        utils["backup_gpg.require_secret"](encryption, "backup.restore")
        passphrase = encryption.passphrase
        started = time.time()
        with staging(paths.tmp) as staged:
            result = job.duplicity("restore", options, [remote, staged], remote, paths, passphrase)
            if result.returncode != 0:
                message = job.failure("restore", result, remote, passphrase, encryption)
                raise CommandExecutionError(message)
            files = count_files(staged)
            hand_back(staged, dest)
    return {
        "result": True,
        "path": relative or ".",
        "target": dest.path,
        "time": when or "latest",
        "files": files,
        "elapsed": round(time.time() - started, 2),
    }
