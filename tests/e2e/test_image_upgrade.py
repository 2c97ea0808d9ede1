"""
The student image upgraded during term, in the lab, as docs/operations.md tells staff to do
it: a new tag built and pushed, pre-pulled by the nodes, the hub pointed at it. A running
server keeps its image until it restarts, new servers get the new one, the status shows each
server's image, the old image leaves a node only once nothing there uses it, and a rollback
is one pillar change.

The "week 5" change is a file added to the image's build context (so its inputs differ and
a new image is built), removed afterwards.
"""

import contextlib

from tests.common.hubclient import working_students
from tests.common.lab import SITE
from tests.common.paths import REPO

MARKER = REPO / "salt/images/files/singleuser/e2e-week5.txt"
NODES = SITE["roles"]["nodes"]


def apply(lab, target, sls, *args):
    """``{minion: {state id: state}}`` of `state.apply sls`; every state succeeded."""
    result = lab.salt(target, "state.apply", sls, *args)
    by_id = {}
    for minion, states in result.items():
        assert isinstance(states, dict), (minion, states)
        failed = {k: v["comment"] for k, v in states.items() if not v["result"]}
        assert not failed, (minion, failed)
        by_id[minion] = {v["__id__"]: v for v in states.values()}
    return by_id


def switch_to(lab):
    """The three commands of the upgrade (and of a rollback), after the pillar change."""
    hub = apply(lab, "hub", "images.build")["hub"]
    nodes = lab.salt("-N", "nodes", "state.apply", "images.prepull")
    for node, states in nodes.items():
        assert all(s["result"] for s in states.values()), (node, states)
    lab.apply_hub()
    return hub, nodes


def status(lab):
    _, report = lab.salt_run("jupyterhub.status")
    lines = {}
    for containers in report["nodes"].values():
        if isinstance(containers, dict):
            lines.update(containers)
    return report["hub"]["hub"]["student image"], lines


def image_line(lab, name):
    """The status line of ``name``'s server container."""
    return status(lab)[1][f"jupyter-{name}"]


def tags_on(lab, node):
    out = lab.exec(node, "docker", "image", "ls", "--format", "{{.Repository}}:{{.Tag}}").stdout
    return {line.rsplit(":", 1)[1] for line in out.split() if "/singleuser:" in line}


@contextlib.contextmanager
def week5_files(lab):
    """The marker in the build context; the master's file list (cached 20 s) told at once."""
    MARKER.write_text("week 5\n")
    lab.salt_run("fileserver.clear_file_list_cache")
    try:
        yield
    finally:
        MARKER.unlink(missing_ok=True)
        lab.salt_run("fileserver.clear_file_list_cache")


def test_upgrade_during_term_keeps_running_servers_and_rolls_back(lab, ca_file):
    try:
        with lab.site_changes({"images": {"singleuser_tag": "week4"}}):
            switch_to(lab)
            assert status(lab)[0] == "singleuser:week4"
            with working_students(["student31"], ca_file) as early:
                assert image_line(lab, "student31").endswith("image singleuser:week4")
                with week5_files(lab), lab.site_changes({"images": {"singleuser_tag": "week5"}}):
                    hub, nodes = switch_to(lab)
                    print("build:", hub["image-singleuser"]["comment"])
                    image, lines = status(lab)
                    assert image == "singleuser:week5"
                    # Still on week4, and told so; its kernel still answers.
                    assert lines["jupyter-student31"].endswith(
                        "image singleuser:week4 (older: until the server restarts)"
                    ), lines
                    assert early["student31"].execute("print(5 * 4)").strip() == "20"
                    # week4 stays on the node where it runs, and only there.
                    where = lab.salt("hub", "swarm.student_tasks")["hub"]
                    node31 = next(t["minion"] for t in where if t["service"] == "jupyter-student31")
                    for node in NODES:
                        assert ("week4" in tags_on(lab, node)) == (node == node31), node
                        assert "week5" in tags_on(lab, node)
                    with working_students(["student32"], ca_file):
                        assert image_line(lab, "student32").endswith("image singleuser:week5")
                    # A second build of week5 rebuilds nothing: tags are immutable.
                    again = apply(lab, "hub", "images.build")["hub"]
                    assert not again["image-singleuser"]["changes"], again
                # Rollback: the pillar back to week4, the same three commands.
                hub, _ = switch_to(lab)
                # week4 exists: kept, neither built nor pushed; only the digest the hub
                # spawns is recorded again, week4's as built (not what the registry says).
                comment = hub["image-singleuser"]["comment"]
                assert comment.startswith("kept week4") and "pushed" not in comment, comment
                assert "; built" not in comment and "recorded" in comment, comment
                assert status(lab)[0] == "singleuser:week4"
                with working_students(["student33"], ca_file):
                    assert image_line(lab, "student33").endswith("image singleuser:week4")
    finally:
        if MARKER.exists():
            MARKER.unlink()
            lab.salt_run("fileserver.clear_file_list_cache")
        switch_to(lab)  # back to the site's own tag for the tests that follow
