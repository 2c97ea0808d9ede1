"""
The real restuser service in a sandbox (``Sandbox``): under Debian's python3, in a private
mount namespace (unshare) over a copy of /etc and an empty /home, /var/log and /var/mail, so
useradd changes only the copies, which are read from here to check what it did. Also the
skip mark for a machine where that cannot run, and what checks that this machine's own
account files and /home are untouched (``digest``, ``sandbox_mounts``).
"""

import hashlib
import os
import shutil
import signal
import subprocess
import tempfile
import time

import pytest
from salt.exceptions import CommandExecutionError

from tests.common.loaders import load
from tests.common.paths import REPO
from tests.common.rawsocket import raw_request
from tests.common.sites import minion_pillar

SCRIPT = REPO / "salt/restuser/files/restuser.py"
PYTHON = "/usr/bin/python3"  # Debian's, as on the hub
ACCOUNT_FILES = ("passwd", "group", "shadow", "gshadow", "subuid", "subgid")
MARKER = ".restuser-sandbox"
UID_MIN, UID_MAX = 10000, 10099

# Bind the copies over the real directories, refuse to start unless that worked, then run
# restuser. "$1" is the sandbox directory, the rest are restuser's options.
NAMESPACE_SCRIPT = f"""
t=$1; shift
mount --bind "$t/etc" /etc
mount --bind "$t/home" /home
if [ "$RO_HOME" = 1 ]; then mount -o remount,bind,ro /home; fi
mount --bind "$t/varlog" /var/log
mount --bind "$t/mail" /var/mail
test -f /etc/{MARKER} && test -f /home/{MARKER} || exit 97
exec {PYTHON} -I "$t/restuser.py" "$@"
"""


def _unshare_works():
    if os.geteuid() != 0:
        return "needs root (unshare --mount, useradd)"
    for tool in ("unshare", "useradd", "userdel", "groupdel"):
        if not shutil.which(tool, path="/usr/sbin:/usr/bin:/sbin:/bin"):
            return f"needs {tool}"
    if not os.path.exists(PYTHON):
        return f"needs {PYTHON}"
    probe = subprocess.run(
        [
            "unshare",
            "--mount",
            "--propagation",
            "private",
            "--",
            "mount",
            "-t",
            "tmpfs",
            "x",
            "/mnt",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if probe.returncode != 0:
        return f"unshare --mount does not work here: {probe.stderr.strip()}"
    return None


SKIP_REASON = _unshare_works()
NEEDS_UNSHARE = pytest.mark.skipif(SKIP_REASON is not None, reason=SKIP_REASON or "")


def digest(paths):
    out = {}
    for path in paths:
        try:
            with open(path, "rb") as handle:
                out[str(path)] = hashlib.sha256(handle.read()).hexdigest()
        except FileNotFoundError:
            out[str(path)] = None
    return out


def sandbox_mounts():
    with open("/proc/self/mountinfo") as handle:
        return [line for line in handle if "restuser-fn-" in line]


class Sandbox:
    """A copy of /etc with a staff account, and restuser running over it in a namespace."""

    def __init__(self, uid_min=UID_MIN, uid_max=UID_MAX, ro_home=False):
        self.uid_min, self.uid_max, self.ro_home = uid_min, uid_max, ro_home
        # Short: a unix socket path must stay under 108 bytes.
        self.dir = tempfile.mkdtemp(prefix="restuser-fn-")
        self.etc = os.path.join(self.dir, "etc")
        self.home = os.path.join(self.dir, "home")
        self.skel = os.path.join(self.dir, "skel")
        self.socket = os.path.join(self.dir, "run", "restuser.sock")
        self.log = os.path.join(self.dir, "restuser.log")
        self.proc = None
        subprocess.run(["cp", "-a", "/etc", self.etc], check=True)
        for sub in ("home", "run", "varlog", "mail", "skel/.config"):
            os.makedirs(os.path.join(self.dir, sub))
        for marker in (self.etc, self.home):
            open(os.path.join(marker, MARKER), "w").close()
        shutil.copy(SCRIPT, os.path.join(self.dir, "restuser.py"))
        self._write("skel/.bashrc", "# the course's bashrc\n")
        self._write("skel/README.md", "Welcome\n")
        self._write("skel/.config/settings.json", "{}\n")
        # A staff member below the range, a student from before, a group with no user.
        self._append("passwd", "ada:x:2001:2001::/home/ada:/bin/bash")
        self._append("shadow", "ada:!:19000:0:99999:7:::")
        self._append("group", "ada:x:2001:")
        self._append("gshadow", "ada:!::")
        self._append("passwd", f"oldie:x:{uid_min + 1}:{uid_min + 1}::/home/oldie:/bin/bash")
        self._append("shadow", "oldie:!:19000:0:99999:7:::")
        self._append("group", f"oldie:x:{uid_min + 1}:")
        self._append("gshadow", "oldie:!::")
        self._append("group", "course:x:3000:")
        self._append("gshadow", "course:!::")
        # Homes with no account: root's is never adopted; one a student uid still owns is
        # (its account was lost: a rebuilt hub over the old /home); one whose owner's uid
        # another account holds is not.
        os.makedirs(os.path.join(self.home, "ghost"))
        self._orphan_home("orphan", uid_min + 50)
        self._orphan_home("squatter", uid_min + 1)
        self.module = load("_modules/restuser.py", {"__opts__": {"restuser.socket": self.socket}})

    def _orphan_home(self, name, owner):
        path = os.path.join(self.home, name)
        os.makedirs(path)
        self._write(f"home/{name}/thesis.ipynb", "my work\n")
        for entry in (path, os.path.join(path, "thesis.ipynb")):
            os.chown(entry, owner, owner)

    def _write(self, relpath, text):
        with open(os.path.join(self.dir, relpath), "w") as handle:
            handle.write(text)

    def _append(self, name, line):
        with open(os.path.join(self.etc, name), "a") as handle:
            handle.write(line + "\n")

    def start(self):
        argv = [
            "unshare", "--mount", "--propagation", "private", "--",
            "sh", "-euc", NAMESPACE_SCRIPT, "sh", self.dir,
            "--socket", self.socket,
            "--uid-min", str(self.uid_min),
            "--uid-max", str(self.uid_max),
            "--skeldir", self.skel,
            "--home-base", "/home",
            "--log", self.log,
            # The site pillar's list, as salt/restuser/files/restuser.service passes it.
            "--reserved-names", ",".join(minion_pillar()["users"]["reserved_names"]),
        ]  # fmt: skip
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "RO_HOME": "1" if self.ro_home else "0"}
        self.proc = subprocess.Popen(
            argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        deadline = time.monotonic() + 10
        while not self.module.available():
            if self.proc.poll() is not None:
                raise AssertionError(f"restuser exited {self.proc.returncode}: {self.output()}")
            assert time.monotonic() < deadline, "restuser did not listen within 10s"
            time.sleep(0.05)
        return self

    def output(self):
        return self.proc.stdout.read() if self.proc.stdout else ""

    def stop(self, sig=signal.SIGTERM):
        """Stop restuser (and with it the namespace); its exit code."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc and self.proc.returncode
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise

    def close(self):
        try:
            self.stop()
        finally:
            if self.proc and self.proc.stdout:
                self.proc.stdout.close()
            shutil.rmtree(self.dir)

    # --- reading what useradd did --------------------------------------------------------

    def read(self, name):
        with open(os.path.join(self.etc, name)) as handle:
            return handle.read()

    def entries(self, name="passwd"):
        return {line.split(":")[0]: line.split(":") for line in self.read(name).splitlines()}

    def snapshot(self):
        """Everything a refused request must leave as it was."""
        files = digest(os.path.join(self.etc, name) for name in ACCOUNT_FILES)
        return files, sorted(os.listdir(self.home))

    def lowest_free_uid(self):
        used = {int(e[2]) for e in self.entries().values()}
        return min(set(range(self.uid_min, self.uid_max + 1)) - used)

    def log_lines(self):
        try:
            with open(self.log) as handle:
                return handle.read().splitlines()
        except FileNotFoundError:
            return []

    def raw(self, data, shut=True):
        """Send raw bytes to the socket: (status, JSON body)."""
        status, _, body = raw_request(self.socket, data, shut=shut, timeout=20)
        return status, body


def refused(func, *args):
    with pytest.raises(CommandExecutionError) as info:
        func(*args)
    return str(info.value)
