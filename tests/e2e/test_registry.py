"""
The image registry in the lab (issue #18 item 2). Before: the registry on the hub's private
address took pushes and deletes from anyone there; node1 pushed `<hub>:5000/poc/image:1`
and it was taken, and a re-pushed `singleuser` tag would have been what every student ran.
Now its private side is read-only (pushes go through the hub's loopback only) and the hub
spawns the digest recorded at build time.
"""

import json

from tests.common.hubclient import working_students
from tests.common.lab import SITE

HUB = SITE["hosts"][SITE["roles"]["hub"]]
REPOSITORY = "jupyterhub-deploy/singleuser"
EVIL = "org.jupyterhub-deploy.e2e-repushed"


def pinned(lab):
    """``(name:tag, digest)`` the hub spawns."""
    name, _, digest = lab.salt("hub", "jupyterhub.student_image")["hub"].partition("@")
    assert digest.startswith("sha256:"), name
    return name, digest


def test_a_node_can_pull_but_not_push_or_delete(lab):
    name, digest = pinned(lab)
    poc = f"{HUB}:5000/poc/image:1"
    lab.exec("node1", "docker", "tag", name, poc)
    try:
        pushed = lab.exec("node1", "docker", "push", poc, check=False)
    finally:
        lab.exec("node1", "docker", "image", "rm", poc, check=False)
    assert pushed.returncode != 0, pushed.stdout
    print("push from node1:", (pushed.stdout + pushed.stderr).strip().splitlines()[-1])
    script = f"""
import urllib.request, urllib.error
base = "http://{HUB}:5000/v2/{REPOSITORY}/manifests/"
opener = urllib.request.build_opener(urllib.request.ProxyHandler({{}}))
for method, ref in (("DELETE", "{digest}"), ("HEAD", "{digest}")):
    try:
        print(method, opener.open(urllib.request.Request(base + ref, method=method)).status)
    except urllib.error.HTTPError as exc:
        print(method, exc.code)
import socket
try:
    socket.create_connection(("{HUB}", 5001), timeout=5)
    print("push side reachable")
except OSError:
    print("push side refused")
"""
    out = lab.exec("node1", "python3", "-c", script).stdout.split("\n")
    assert out[:3] == ["DELETE 405", "HEAD 200", "push side refused"], out


def test_a_tag_re_pushed_by_hand_is_not_what_the_next_spawn_runs(lab, ca_file):
    name, digest = pinned(lab)
    tag = name.rsplit(":", 1)[1]
    alias = f"127.0.0.1:5001/{REPOSITORY}:{tag}"
    # Other content under the same tag, pushed on the hub (the only place that can).
    lab.exec("hub", "sh", "-c", f"printf 'FROM {name}\\nLABEL {EVIL}=1\\n' | "
             f"docker build -q -t {alias} - && docker push -q {alias}")  # fmt: skip
    try:
        served = lab.exec("hub", "python3", "-c", (
            "import urllib.request as u; r = u.Request("
            f"'http://{HUB}:5000/v2/{REPOSITORY}/manifests/{tag}', method='HEAD', headers="
            "{'Accept': 'application/vnd.docker.distribution.manifest.v2+json'}); "
            "print(u.build_opener(u.ProxyHandler({})).open(r).headers['Docker-Content-Digest'])"
        )).stdout.strip()  # fmt: skip
        assert served != digest  # the registry's tag now names the other image
        with working_students(["carol"], ca_file) as people:
            assert people["carol"].execute("print(6 * 7)").strip() == "42"
            spec_of = "{{.Spec.TaskTemplate.ContainerSpec.Image}}"
            spec = lab.exec("hub", "docker", "service", "inspect", "jupyter-carol", "--format",
                            spec_of).stdout.strip()  # fmt: skip
            assert spec == f"{name}@{digest}"
            for node, containers in lab.salt("-N", "nodes", "swarm.student_containers").items():
                for container in containers:
                    if container["service"] == "jupyter-carol":
                        labels = lab.exec(node, "docker", "inspect", "--format",
                                          "{{json .Config.Labels}}",
                                          container["container"])  # fmt: skip
                        assert EVIL not in json.loads(labels.stdout), node
    finally:
        # The original back under its tag, as the hub built it.
        lab.exec("hub", "sh", "-c", f"docker tag {name} {alias} && docker push -q {alias} && "
                 f"docker image rm {alias}")  # fmt: skip
