"""salt/hub/files/imagectl.py: idempotent image build, push and pull for salt's cmd.run.

Docker and the registry are fakes: the tests check what is run when, and the stateful
line salt reads.
"""

import json
import shlex

import pytest

from tests.loaders import load

imagectl = load("salt/hub/files/imagectl.py")
IMAGE = "10.0.0.10:5000/jupyterhub-deploy/hub:current"


class FakeDocker:
    """Local images by name -> {"id", "labels", "repo_digests"}; commands recorded."""

    def __init__(self, images=None):
        self.images = images or {}
        self.commands = []
        self.pushed = {}

    def __call__(self, *args, check=True):
        self.commands.append(args[0] if args[0] != "image" else "inspect")
        if args[:2] == ("image", "inspect"):
            fmt, name = args[3], args[4]
            image = self.images.get(name)
            if image is None:
                if check:
                    raise imagectl.Failed("no such image")
                return None
            if fmt == "{{.Id}}":
                return image["id"] + "\n"
            if fmt == "{{json .Config.Labels}}":
                return json.dumps(image.get("labels")) + "\n"
            return json.dumps(image.get("repo_digests", [])) + "\n"
        if args[0] == "build":
            label = args[args.index("--label") + 1].split("=", 1)[1]
            name = args[args.index("--tag") + 1]
            new_id = f"sha256:{len(self.commands):064d}"
            self.images[name] = {"id": new_id, "labels": {imagectl.LABEL: label}}
            return ""
        if args[0] == "push":
            registry, repository, _ = imagectl.split_image(args[1])
            digest = "sha256:" + self.images[args[1]]["id"][-8:].rjust(64, "d")
            self.images[args[1]]["repo_digests"] = [f"{registry}/{repository}@{digest}"]
            self.pushed[args[1]] = digest
            return ""
        if args[0] == "pull":
            self.images[args[1]] = {
                "id": "sha256:" + "e" * 64,
                "repo_digests": [f"10.0.0.10:5000/jupyterhub-deploy/singleuser@{REGISTRY_DIGEST}"],
            }
            return ""
        raise AssertionError(args)


REGISTRY_DIGEST = "sha256:" + "f" * 64


@pytest.fixture
def context(tmp_path):
    ctx = tmp_path / "hub"
    (ctx / "pkg" / "__pycache__").mkdir(parents=True)
    (ctx / "Dockerfile").write_text("FROM ${BASE_IMAGE}\n")
    (ctx / "pkg" / "mod.py").write_text("x = 1\n")
    (ctx / "pkg" / "__pycache__" / "mod.cpython-311.pyc").write_bytes(b"junk")
    return ctx


@pytest.fixture
def cert(tmp_path):
    path = tmp_path / "corp.pem"
    path.write_text("-----BEGIN CERTIFICATE-----\nAAA\n-----END CERTIFICATE-----\n")
    return path


@pytest.fixture
def fake(monkeypatch):
    docker = FakeDocker({"debian:bookworm": {"id": "sha256:" + "b" * 64}})
    monkeypatch.setattr(imagectl, "docker", docker)
    monkeypatch.setattr(imagectl, "registry_digest", lambda image: docker.pushed.get(image))
    return docker


def build_args(context, *extra):
    return [
        "build",
        "--context",
        str(context),
        "--image",
        IMAGE,
        "--base",
        "debian:bookworm",
        *extra,
    ]


def stateful_line(capsys):
    line = capsys.readouterr().out.strip().splitlines()[-1]
    return dict(pair.split("=", 1) for pair in shlex.split(line))


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
