"""
script/bootstrap's venv check, run by bash with the venv under a tmp dir (JHD_PREFIX): a
venv built on another python3 (a Debian 12 to 13 upgrade: 3.11 to 3.13) is rebuilt, one
built on this python3 that still imports salt is kept.
"""

import os
import subprocess
import sys

from tests.common.paths import REPO

BOOTSTRAP = REPO / "script/bootstrap"


def check_venv(prefix):
    """Source bootstrap, run check_venv; what it logged."""
    proc = subprocess.run(
        ["bash", "-c", f'source "{BOOTSTRAP}"; check_venv; interpreter'],
        env=dict(os.environ, JHD_PREFIX=str(prefix)),
        capture_output=True,
        text=True,
        check=True,
    )
    return proc.stdout


def fake_venv(prefix, record, python):
    venv = prefix / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin/python").symlink_to(python)
    if record is not None:
        (venv / ".interpreter").write_text(record + "\n")
    return venv


def this_interpreter(tmp_path):
    return check_venv(tmp_path / "none").strip().splitlines()[-1]


def test_a_venv_built_on_the_old_python_is_rebuilt(tmp_path):
    venv = fake_venv(tmp_path, "cpython-311 /usr/bin/python3 3.11.2", sys.executable)
    out = check_venv(tmp_path)
    assert not venv.exists()
    assert "was built with python cpython-311 /usr/bin/python3 3.11.2; python3 is now" in out


def test_a_venv_without_a_record_is_rebuilt(tmp_path):
    venv = fake_venv(tmp_path, None, sys.executable)
    assert "was built with python unknown" in check_venv(tmp_path)
    assert not venv.exists()


def test_a_venv_that_cannot_import_salt_is_rebuilt(tmp_path):
    venv = fake_venv(tmp_path, this_interpreter(tmp_path), "/bin/false")
    assert "cannot import salt any more: rebuilding it" in check_venv(tmp_path)
    assert not venv.exists()


def test_a_venv_of_this_python_that_imports_salt_is_kept(tmp_path):
    """Its python is this test run's, which has salt."""
    venv = fake_venv(tmp_path, this_interpreter(tmp_path), sys.executable)
    assert "rebuilding" not in check_venv(tmp_path)
    assert (venv / "bin/python").exists()
