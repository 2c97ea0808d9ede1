"""Building, pushing and pulling: what triggers a rebuild, what is pushed where and which
digest is recorded, and the plan of what a run would do."""

import json

import pytest

from tests.common.fake_docker_cli import (
    IMAGE,
    PUSH_SIDE,
    REGISTRY_DIGEST,
    STUDENT,
    build_args,
    imagectl,
    stateful_line,
    student_args,
)


def test_first_run_builds_and_pushes(context, cert, fake, capsys):
    assert imagectl.main(build_args(context, "--ca-cert", str(cert), "--push")) == 0
    line = stateful_line(capsys)
    assert line["changed"] == "yes"
    assert "built" in line["comment"] and "pushed" in line["comment"]
    assert fake.commands.count("build") == 1
    assert fake.commands.count("push") == 1


def test_second_run_changes_nothing(context, cert, fake, capsys):
    args = build_args(context, "--ca-cert", str(cert), "--push")
    imagectl.main(args)
    capsys.readouterr()
    assert imagectl.main([*args, "--check"]) == 0
    assert imagectl.main(args) == 0
    assert stateful_line(capsys)["changed"] == "no"
    assert fake.commands.count("build") == 1
    assert fake.commands.count("push") == 1


@pytest.mark.parametrize("change", ["file", "cert", "base", "cache"])
def test_what_triggers_a_rebuild(context, cert, fake, capsys, change):
    args = build_args(context, "--ca-cert", str(cert), "--push")
    imagectl.main(args)
    if change == "file":
        (context / "pkg" / "mod.py").write_text("x = 2\n")
    elif change == "cert":
        cert.write_text(cert.read_text() + "# another\n")
    elif change == "base":
        fake.images["debian:bookworm"]["id"] = "sha256:" + "c" * 64
    else:
        (context / "pkg" / "__pycache__" / "mod.cpython-311.pyc").write_bytes(b"other junk")
    rebuilt = change != "cache"
    assert imagectl.main([*args, "--check"]) == (1 if rebuilt else 0)
    capsys.readouterr()
    imagectl.main(args)
    assert stateful_line(capsys)["changed"] == ("yes" if rebuilt else "no")
    assert fake.commands.count("build") == (2 if rebuilt else 1)


def test_a_registry_without_the_image_gets_it_again(context, fake, capsys):
    args = build_args(context, "--push")
    imagectl.main(args)
    fake.pushed.clear()  # the registry lost its storage
    assert imagectl.main([*args, "--check"]) == 1
    capsys.readouterr()
    imagectl.main(args)
    assert "pushed" in stateful_line(capsys)["comment"]
    assert fake.commands.count("build") == 1


def test_a_failed_build_fails_the_state(context, fake, monkeypatch, capsys):
    def broken(*args, check=True):
        if args[0] == "build":
            raise imagectl.Failed("docker build failed: E: Unable to locate package nodejs")
        return fake(*args, check=check)

    monkeypatch.setattr(imagectl, "docker", broken)
    assert imagectl.main(build_args(context, "--push")) == 1
    assert "Unable to locate package" in capsys.readouterr().err


def test_the_build_context_gets_the_cas(context, cert, tmp_path):
    dest = tmp_path / "assembled"
    imagectl.assemble(str(context), [str(cert)], str(dest))
    assert (dest / "ca-certificates" / "00-corp.crt").read_text() == cert.read_text()
    assert not (dest / "pkg" / "__pycache__").exists()
    empty = tmp_path / "no-cas"
    imagectl.assemble(str(context), [], str(empty))
    assert (empty / "ca-certificates").is_dir()


def test_pull(fake, capsys):
    image = "10.0.0.10:5000/jupyterhub-deploy/singleuser:current"
    fake.pushed[image] = REGISTRY_DIGEST
    assert imagectl.main(["pull", "--image", image, "--check"]) == 1
    assert imagectl.main(["pull", "--image", image]) == 0
    assert stateful_line(capsys)["changed"] == "yes"
    assert imagectl.main(["pull", "--image", image, "--check"]) == 0
    assert imagectl.main(["pull", "--image", image]) == 0
    assert stateful_line(capsys)["changed"] == "no"
    assert fake.commands.count("pull") == 1


def test_the_hub_pushes_through_the_loopback_side_and_records_the_digest(
    context, fake, capsys, tmp_path
):
    """The pull side is read-only (issue #18): pushes go through 127.0.0.1:5001."""
    record = tmp_path / "data" / "singleuser-image.json"
    args = build_args(context, "--push", "--push-via", PUSH_SIDE, "--record", str(record))
    assert imagectl.main(args) == 0
    alias = f"{PUSH_SIDE}/jupyterhub-deploy/hub:current"
    assert alias not in fake.images  # the alias is dropped again, the image stays
    assert json.loads(record.read_text()) == {
        "image": IMAGE,
        "digest": fake.pushed[IMAGE],
        "built": {IMAGE: fake.pushed[IMAGE]},
    }
    assert stateful_line(capsys)["comment"].endswith(f"recorded {fake.pushed[IMAGE][:19]}")
    assert imagectl.main([*args, "--check"]) == 0
    assert imagectl.main(args) == 0
    assert stateful_line(capsys)["changed"] == "no"


def test_a_tag_re_pushed_behind_the_hub_s_back_is_not_recorded(context, fake, capsys, tmp_path):
    """Someone pushes other content under week5: the record keeps the digest the hub built
    (what it spawns), and the moving tag is pushed back."""
    record = tmp_path / "singleuser-image.json"
    week5 = [*student_args(context, "week5"), "--record", str(record)]
    imagectl.main(week5)
    ours = json.loads(record.read_text())["digest"]
    fake.pushed[f"{STUDENT}:week5"] = "sha256:" + "6" * 64
    assert imagectl.main(week5) == 0
    assert json.loads(record.read_text())["digest"] == ours
    moving = build_args(context, "--push", "--record", str(record))
    imagectl.main(moving)
    fake.pushed[IMAGE] = "sha256:" + "6" * 64
    capsys.readouterr()
    assert imagectl.main(moving) == 0
    assert "pushed it" in stateful_line(capsys)["comment"]
    assert fake.pushed[IMAGE] == json.loads(record.read_text())["digest"] != "sha256:" + "6" * 64


def test_a_rollback_records_the_digest_built_for_that_tag_not_the_registry_s(
    context, fake, capsys, tmp_path
):
    """week4, then week5; the hub pruned its week4 and someone re-pushed week4; back to it."""
    record = tmp_path / "singleuser-image.json"
    imagectl.main([*student_args(context, "week4"), "--record", str(record)])
    ours = json.loads(record.read_text())["digest"]
    (context / "pkg" / "mod.py").write_text("import pandas\n")
    imagectl.main([*student_args(context, "week5"), "--record", str(record)])
    del fake.images[f"{STUDENT}:week4"]
    fake.pushed[f"{STUDENT}:week4"] = "sha256:" + "6" * 64
    assert imagectl.main([*student_args(context, "week4"), "--record", str(record)]) == 0
    assert json.loads(record.read_text())["image"] == f"{STUDENT}:week4"
    assert json.loads(record.read_text())["digest"] == ours


def test_pull_by_digest_tags_that_digest_locally(fake, capsys):
    image = f"{STUDENT}:week5"
    fake.pushed[image] = "sha256:" + "6" * 64  # the tag was re-pushed: never pulled
    argv = ["pull", "--image", image, "--digest", REGISTRY_DIGEST]
    assert imagectl.main([*argv, "--check"]) == 1
    assert imagectl.main(argv) == 0
    assert stateful_line(capsys)["changed"] == "yes"
    assert f"{STUDENT}@{REGISTRY_DIGEST}" in fake.images and image in fake.images
    assert imagectl.main(argv) == 0
    assert stateful_line(capsys)["changed"] == "no"
    assert fake.commands.count("pull") == 1


@pytest.mark.parametrize(
    "image, parts",
    [
        (IMAGE, ("10.0.0.10:5000", "jupyterhub-deploy/hub", "current")),
        ("10.0.0.10:5000/x/y", ("10.0.0.10:5000", "x/y", "latest")),
    ],
)
def test_split_image(image, parts):
    assert imagectl.split_image(image) == parts


def test_plan_says_what_a_run_would_do_and_does_nothing(context, fake, capsys):
    """--plan is salt's test=True for the image states: a stateful line, no docker work."""
    args = build_args(context, "--push")
    assert imagectl.main([*args, "--plan"]) == 0
    line = stateful_line(capsys)
    assert line["changed"] == "yes" and line["comment"].startswith("would build and push")
    assert fake.commands.count("build") == 0 and fake.commands.count("push") == 0
    imagectl.main(args)
    capsys.readouterr()
    assert imagectl.main([*args, "--plan"]) == 0
    assert stateful_line(capsys)["changed"] == "no"
    image = "10.0.0.10:5000/jupyterhub-deploy/singleuser:current"
    fake.pushed[image] = REGISTRY_DIGEST
    assert imagectl.main(["pull", "--image", image, "--plan"]) == 0
    assert stateful_line(capsys) == {"changed": "yes", "comment": f"would pull {image}"}
    assert fake.commands.count("pull") == 0


def test_a_build_argument_is_an_input_and_reaches_docker_build(context, fake, capsys):
    """hub:jupyterhub_version reaches the hub's Dockerfile as a build argument: a new
    version rebuilds, the same one does not."""
    args = build_args(context, "--push", "--build-arg", "JUPYTERHUB_VERSION=5.5.4")
    imagectl.main(args)
    build = next(c for c in fake.calls if c[0] == "build")
    assert "JUPYTERHUB_VERSION=5.5.4" in build
    assert build[build.index("JUPYTERHUB_VERSION=5.5.4") - 1] == "--build-arg"
    assert imagectl.main([*args, "--check"]) == 0
    other = build_args(context, "--push", "--build-arg", "JUPYTERHUB_VERSION=6.1.1")
    assert imagectl.main([*other, "--check"]) == 1
    assert imagectl.main([*build_args(context, "--push"), "--check"]) == 1


@pytest.mark.parametrize("bad", ["JUPYTERHUB_VERSION", "BASE_IMAGE=x", "1X=2"])
def test_a_malformed_build_argument_is_refused(context, fake, bad, capsys):
    with pytest.raises(SystemExit):
        imagectl.main(build_args(context, "--build-arg", bad))
    assert "expected NAME=VALUE" in capsys.readouterr().err
