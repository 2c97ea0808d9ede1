"""
/home full while a student works: the student gets a clear error, keeps what was written,
can still start a server and free space, and the hub (its database lives elsewhere) carries
on serving everyone.

Stand-in: the lab's /home is a Docker volume on this machine's own disk, which a test must
not fill, and there is no kernel NFS. So a small tmpfs is mounted over /home/<student> on
one node, where the student's container takes its home from: the server sees exactly what a
full NFS /home gives it (ENOSPC on write). Unlike NFS that tmpfs is the node's own, so the
other nodes are drained meanwhile and both of the student's servers start on that node.
Unmounted and undrained afterwards.
"""

import pytest

from tests.common.hubclient import Kernel, Student
from tests.common.lab import SITE

NAME = "student29"
NODES = SITE["roles"]["nodes"]
SIZE = "6m"

FILL = """
import errno
try:
    with open('fill.bin', 'wb') as f:
        while True:
            f.write(b'x' * 2**20)
            f.flush()
except OSError as exc:
    print(errno.errorcode[exc.errno])
"""


@pytest.fixture
def small_home(lab):
    """A SIZE tmpfs as NAME's home on the first node, owned by the student; the other
    nodes drained (no new servers) so every server of the test starts there."""
    node, others = NODES[0], NODES[1:]
    account = lab.salt("hub", "restuser.create", NAME)["hub"]
    options = f"size={SIZE},mode=0700,uid={account['uid']},gid={account['gid']}"
    lab.exec(node, "mkdir", "-p", f"/home/{NAME}")
    lab.exec(node, "mount", "-t", "tmpfs", "-o", options, "tmpfs", f"/home/{NAME}")
    try:
        for other in others:
            code, report = lab.salt_run("jupyterhub.drain", other)
            assert code == 0, report
        yield
    finally:
        for other in others:
            lab.salt_run("jupyterhub.undrain", other)
        lab.exec(node, "umount", "-l", f"/home/{NAME}", check=False)


def save(student, path, text):
    model = {"type": "file", "format": "text", "content": text}
    return student.server_api("PUT", f"/contents/{path}", json=model)


def test_disk_full_home_gives_a_clear_error_and_loses_nothing(lab, ca_file, small_home):
    student = Student(NAME, ca_file)
    student.login()
    student.start_server()
    try:
        student.open_lab()
        assert save(student, "keep.txt", "written before").status_code in (200, 201)
        kernel = Kernel(student)
        assert kernel.run(FILL).strip() == "ENOSPC"
        kernel.shutdown()

        # A new file, and a small save over a saved one (which jupyter_server's own atomic
        # writing left empty): refused with the reason, the saved file as it was.
        for path, text in (("notes.txt", "x" * 100_000), ("keep.txt", "overwritten")):
            refused = save(student, path, text)
            assert refused.status_code >= 400
            assert "No space left on device" in refused.json()["message"], refused.text[:300]
        print("the student's save was refused with:", refused.json()["message"])
        kept = student.server_api("GET", "/contents/keep.txt").json()
        assert kept["content"] == "written before"

        # The hub and its database carry on: the hub answers, another student logs in.
        other = Student("student30", ca_file)
        other.login()
        assert other.hub_api("GET", "/users/student30").status_code == 200

        # A server still starts on a full home, and the student can free space.
        student.stop_server()
        student.start_server()
        student.open_lab()
        assert student.server_api("DELETE", "/contents/fill.bin").status_code == 204
        assert save(student, "notes.txt", "fits now").status_code in (200, 201)
        assert student.server_api("GET", "/contents/keep.txt").json()["content"] == "written before"
    finally:
        student.stop_server()
