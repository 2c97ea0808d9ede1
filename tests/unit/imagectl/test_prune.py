"""prune: the student image's local tags nothing uses are removed, the kept one and those
a container uses stay."""

import pytest

from tests.common.fake_docker_cli import (
    IMAGE,
    STUDENT,
    imagectl,
    stateful_line,
)

# --- prune: local tags nothing uses ------------------------------------------------------


@pytest.fixture
def tagged(fake):
    """The student image's current, week4 and week5 on a node, and the hub image."""
    for n, tag in enumerate(["current", "week4", "week5"]):
        fake.images[f"{STUDENT}:{tag}"] = {"id": f"sha256:{n:064d}"}
    fake.images[IMAGE] = {"id": "sha256:" + "9" * 64}
    return fake


def student_tags(fake):
    return sorted(name.rsplit(":", 1)[1] for name in fake.images if name.startswith(STUDENT))


def prune_args(*extra):
    return ["prune", "--repository", STUDENT, "--keep", "week5", *extra]


def test_prune_removes_tags_no_container_uses_and_keeps_the_rest(tagged, capsys):
    # bob's server started before the upgrade (stopped containers count as well).
    tagged.containers["jupyter-bob.1.x"] = tagged.images[f"{STUDENT}:week4"]["id"]
    assert imagectl.main(prune_args("--check")) == 1
    assert imagectl.main(prune_args()) == 0
    assert stateful_line(capsys) == {
        "changed": "yes",
        "comment": f"removed current of {STUDENT} (no container uses them); "
        "kept week4: jupyter-bob.1.x uses it",
    }
    assert student_tags(tagged) == ["week4", "week5"] and IMAGE in tagged.images
    assert imagectl.main(prune_args("--check")) == 0
    assert imagectl.main(prune_args()) == 0
    assert stateful_line(capsys) == {
        "changed": "no",
        "comment": "kept week4: jupyter-bob.1.x uses it",
    }
    del tagged.containers["jupyter-bob.1.x"]  # bob restarted on week5
    imagectl.main(prune_args())
    assert stateful_line(capsys)["changed"] == "yes"
    assert student_tags(tagged) == ["week5"] and IMAGE in tagged.images
    imagectl.main(prune_args())
    assert stateful_line(capsys) == {
        "changed": "no",
        "comment": f"{STUDENT} has no tags to remove besides week5",
    }


def test_prune_plan_removes_nothing(tagged, capsys):
    assert imagectl.main(prune_args("--plan")) == 0
    line = stateful_line(capsys)
    assert line["changed"] == "yes"
    assert line["comment"] == f"would remove current, week4 of {STUDENT} (no container uses them)"
    assert "image rm" not in tagged.commands
    assert student_tags(tagged) == ["current", "week4", "week5"]


def test_prune_keeps_a_tag_a_container_took_since_it_looked(tagged, monkeypatch, capsys):
    real = tagged.__call__

    def racing(*args, check=True):
        if args[:2] == ("image", "rm") and args[2].endswith(":week4"):
            tagged.containers["jupyter-new.1.y"] = tagged.images[args[2]]["id"]
        return real(*args, check=check)

    monkeypatch.setattr(imagectl, "docker", racing)
    assert imagectl.main(prune_args()) == 0
    assert stateful_line(capsys)["comment"].endswith("kept week4: a new container uses it")
    assert f"{STUDENT}:week4" in tagged.images


def test_prune_of_a_repository_with_only_the_kept_tag_asks_no_containers(fake, capsys):
    fake.images[f"{STUDENT}:week5"] = {"id": "sha256:" + "1" * 64}
    assert imagectl.main(prune_args()) == 0
    assert stateful_line(capsys)["changed"] == "no"
    assert "container" not in fake.commands


def test_a_comment_never_carries_an_equals_sign():
    """Salt's stateful parser splits every pair at each '=' and fails on a second one."""
    assert imagectl.stateful(False, "a=b") == "changed=no comment=a:b"
