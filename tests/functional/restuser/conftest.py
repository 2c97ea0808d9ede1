"""
Fixtures of the restuser service tests: the main sandboxed service (``hub``, one for the
whole folder, as the tests share it), more sandboxes on demand (``make_sandbox``), and a
check afterwards that this machine's own account files and /home are untouched and that no
sandbox mount or process is left.
"""

import os

import pytest

from tests.common.restuser_sandbox import ACCOUNT_FILES, Sandbox, digest, sandbox_mounts


@pytest.fixture(scope="package", autouse=True)
def host_untouched():
    """This machine's accounts and /home are the same after the tests as before."""
    files = [f"/etc/{name}" for name in ACCOUNT_FILES]
    before = digest(files), sorted(os.listdir("/home"))
    with open("/etc/passwd") as handle:
        passwd_before = handle.read()
    yield
    with open("/etc/passwd") as handle:
        passwd_after = handle.read()
    assert passwd_after == passwd_before, "this machine's /etc/passwd changed"
    assert (digest(files), sorted(os.listdir("/home"))) == before
    assert sandbox_mounts() == []


@pytest.fixture(scope="package")
def hub():
    """The main sandbox: restuser with students' uids 10000-10099."""
    sandbox = Sandbox()
    try:
        yield sandbox.start()
    finally:
        sandbox.close()


@pytest.fixture
def make_sandbox():
    sandboxes = []

    def make(**kwargs):
        sandboxes.append(Sandbox(**kwargs))
        return sandboxes[-1].start()

    yield make
    for sandbox in sandboxes:
        sandbox.close()
