"""
A spawn that cannot succeed is reported at once, not left pending until start_timeout.

The case: a node lost the student image while the hub's registry is down, so swarm
rejects the server's task ("No such image"). The test makes that happen for real (stops
the registry, removes the image's tag on every node) and puts both back afterwards.
"""

import time

import pytest

from tests.common.hubclient import Student
from tests.common.lab import SITE

NAME = "student07"
NODES = SITE["roles"]["nodes"]


@pytest.fixture
def image_gone(lab):
    image = lab.salt("hub", "pillar.get", "images:names:singleuser", "unmask=True")["hub"]
    lab.exec("hub", "systemctl", "stop", "docker-registry")
    try:
        for node in NODES:
            # Every name of the image goes, its digest too (the hub spawns name@digest);
            # -f: other students' running servers keep their (now nameless) image.
            names = lab.exec(
                node, "docker", "image", "inspect", "--format",
                "{{range .RepoTags}}{{.}} {{end}}{{range .RepoDigests}}{{.}} {{end}}", image,
            ).stdout.split()  # fmt: skip
            lab.exec(node, "docker", "image", "rm", "-f", *names)
        yield image
    finally:
        lab.exec("hub", "systemctl", "start", "docker-registry")
        result = lab.salt("-N", "nodes", "state.apply", "images.prepull")
        for node in NODES:
            assert all(s["result"] for s in result[node].values()), result[node]
            lab.exec(node, "docker", "image", "inspect", image)


def test_missing_image_fails_the_spawn_with_the_reason(lab, ca_file, image_gone):
    student = Student(NAME, ca_file)
    student.login()
    since = lab.exec("hub", "date", "-u", "+%Y-%m-%dT%H:%M:%S").stdout.strip()
    start_timeout = lab.salt("hub", "pillar.get", "spawner:start_timeout", "unmask=True")["hub"]
    started = time.monotonic()
    response = student.hub_api("POST", f"/users/{NAME}/server")
    # A spawn failing within the hub's slow_spawn_timeout (10 s) fails the request itself;
    # a slower one is accepted (202) and fails afterwards.
    assert response.status_code in (202, 500), response.text[:300]
    while True:
        model = student.hub_api("GET", f"/users/{NAME}").json()
        if not model.get("pending") and not model.get("servers"):
            break
        assert time.monotonic() - started < start_timeout, "the spawn is still pending"
        time.sleep(2)
    failed_after = time.monotonic() - started
    log = lab.exec("hub", "docker", "logs", "--since", since, "jupyterhub").stderr
    assert "No such image" in log and image_gone in log, log[-3000:]
    assert f"jupyter-{NAME}" not in lab.exec("hub", "docker", "service", "ls").stdout
    print(f"spawn failure reported after {failed_after:.1f}s (start_timeout {start_timeout}s)")
