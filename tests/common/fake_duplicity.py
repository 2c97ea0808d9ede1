"""
A double of the duplicity call of _modules/backup.py (``FakeDuplicity``, for its
``_execute``): it records each call's argument list and environment and answers with a log
the real duplicity of ``version`` wrote (tests/common/duplicity_logs.py); ``module_for``
loads the module with its _utils/backup_*.py as ``__utils__`` and a backup pillar.
"""

import os
import subprocess

from tests.common.duplicity_logs import VERSIONS, log_of
from tests.common.loaders import load

SECRET = "correct horse battery staple"
TARGET = "file:///srv/backups/home"


def module_for(cfg, salt=None, hosts=None):
    pillar = {"backup": cfg, "hosts": hosts or {"hub": "10.0.0.10", "node2": "10.0.0.12"}}
    return load(
        "_modules/backup.py",
        {"__pillar__": pillar, "__salt__": salt or {}, "__context__": {}, "__opts__": {}},
    )


class FakeDuplicity:
    """Stands in for ``_execute``: records each call, answers with a captured log."""

    def __init__(self, log="run_full", returncode=0, stdout="", stderr="", version="0.8"):
        self.calls = []
        self.version = version
        self.reply(log, returncode, stdout, stderr)

    def reply(self, log, returncode=0, stdout="", stderr=""):
        """``log``: the name of a captured log, its text itself, or None for no log."""
        self.log = log_of(log, self.version) if log and "\n" not in log else log
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr

    def __call__(self, argv, env, log_fd=None):
        if argv[1:] == ["--version"]:
            said = f"duplicity {VERSIONS[self.version]}\n"
            return subprocess.CompletedProcess(argv, 0, said, "")
        self.calls.append({"argv": argv, "env": env})
        if self.log:
            os.write(log_fd, self.log.encode())
        if argv[1] == "restore" and self.returncode == 0:
            # What duplicity leaves in the staging directory: one restored file.
            os.makedirs(argv[-1])
            with open(os.path.join(argv[-1], "restored.txt"), "w", encoding="utf-8") as handle:
                handle.write("restored\n")
        return subprocess.CompletedProcess(argv, self.returncode, self.stdout, self.stderr)

    @property
    def argv(self):
        return self.calls[-1]["argv"]
