"""salt/hub/files/imagectl.py: idempotent image build, push, pull and prune for salt's cmd.run.

Docker and the registry are fakes: the tests check what is run when, and the stateful
line salt reads. registry_digest itself is tested against a stand-in registry on loopback.

Why over 400 lines: one test file per script under test; the tests share its fakes.
"""

import http.server
import json
import shlex
import threading

import pytest

from tests.common.loaders import load

imagectl = load("salt/hub/files/imagectl.py")
IMAGE = "10.0.0.10:5000/jupyterhub-deploy/hub:current"
STUDENT = "10.0.0.10:5000/jupyterhub-deploy/singleuser"


class FakeDocker:
    """
    Local images by name -> {"id", "labels", "repo_digests"}; containers by name -> image
    id; commands recorded (``image inspect`` as "inspect", other ``image X`` as "image X").
    """

    def __init__(self, images=None):
        self.images = images or {}
        self.containers = {}
        self.commands = []
        self.pushed = {}
        self.registry_down = False

    def __call__(self, *args, check=True):
        if args[0] == "image":
            self.commands.append("inspect" if args[1] == "inspect" else f"image {args[1]}")
        else:
            self.commands.append(args[0])
        if args[:2] == ("image", "ls"):
            return self.image_ls(args)
        if args[:2] == ("image", "rm"):
            name = args[2]
            if self.images.get(name, {}).get("id") in self.containers.values():
                raise imagectl.Failed(f"docker image rm failed: conflict: unable to remove {name}")
            del self.images[name]
            return ""
        if args[0] == "tag":
            source = self.images.get(args[1]) or next(
                i for i in self.images.values() if i["id"] == args[1]
            )
            self.images[args[2]] = dict(source)
            return ""
        if args[:2] == ("container", "ls"):
            return "".join(f"id-{name}\n" for name in self.containers)
        if args[:2] == ("container", "inspect"):
            return "".join(
                f"{self.containers[i[3:]]} /{i[3:]}\n" for i in args[4:] if i[3:] in self.containers
            )
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
            registry, repository, tag = imagectl.split_image(args[1])
            pushed = self.images[args[1]]
            digest = "sha256:" + pushed["id"][-8:].rjust(64, "d")
            for image in self.images.values():  # every name of that image gets the digest
                if image["id"] == pushed["id"]:
                    image["repo_digests"] = [f"{registry}/{repository}@{digest}"]
                    if registry == PUSH_SIDE:  # removing the alias takes this one along
                        image["repo_digests"] = []
            # The registry's tag, whichever of its addresses the push went through.
            self.pushed[f"{PULL_SIDE}/{repository}:{tag}"] = digest
            return f"{tag}: digest: {digest} size: 1234\n"
        if args[0] == "pull":
            args = [a for a in args if a != "--quiet"]
            name, _, digest = args[1].partition("@")
            have = [i for i in self.images.values() if i["id"][-8:].rjust(64, "d") == digest[7:]]
            for image in have:  # a digest this engine has: only its reference is added
                image.setdefault("repo_digests", []).append(args[1])
            if have:
                return ""
            self.images[args[1]] = {
                "id": "sha256:" + "e" * 64,
                "repo_digests": [f"{PULL_SIDE}/jupyterhub-deploy/singleuser@{REGISTRY_DIGEST}"],
            }
            return ""
        raise AssertionError(args)

    def image_ls(self, args):
        if "--filter" in args:
            key, _, value = args[args.index("--filter") + 1].removeprefix("label=").partition("=")
            ids = {
                i["id"] for i in self.images.values() if (i.get("labels") or {}).get(key) == value
            }
            return "".join(f"{ident}\n" for ident in sorted(ids))
        lines = []
        for name, image in sorted(self.images.items()):
            repository, _, tag = name.rpartition(":")
            if "/" in tag or not repository:
                repository, tag = name, "latest"
            lines.append(f"{repository}\t{tag}\t{image['id']}\n")
        return "".join(lines)

    def registry_digest(self, image, strict=False, **_):
        if self.registry_down:
            if strict:
                raise imagectl.Failed("cannot tell whether the registry has it: refused")
            return None
        return self.pushed.get(image)


REGISTRY_DIGEST = "sha256:" + "f" * 64
PULL_SIDE = "10.0.0.10:5000"
PUSH_SIDE = "127.0.0.1:5001"


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
    monkeypatch.setattr(imagectl, "registry_digest", docker.registry_digest)
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


# --- immutable tags (images:singleuser_tag) ----------------------------------------------


def student_args(context, tag, *extra):
    return ["build", "--context", str(context), "--image", f"{STUDENT}:{tag}",
            "--base", "debian:bookworm", "--push", "--immutable", *extra]  # fmt: skip


KEPT = "already built (tags are immutable; choose a new images:singleuser_tag to rebuild)"


def test_an_immutable_tag_is_built_once_and_never_again(context, fake, capsys):
    assert imagectl.main(student_args(context, "week5")) == 0
    assert stateful_line(capsys)["changed"] == "yes"
    assert fake.commands.count("build") == 1 and f"{STUDENT}:week5" in fake.pushed
    (context / "pkg" / "mod.py").write_text("x = 2\n")  # staff edit the files, same tag
    assert imagectl.main([*student_args(context, "week5"), "--check"]) == 0
    assert imagectl.main([*student_args(context, "week5"), "--plan"]) == 0
    assert stateful_line(capsys) == {"changed": "no", "comment": f"kept week5: {KEPT}"}
    assert imagectl.main(student_args(context, "week5")) == 0
    assert stateful_line(capsys) == {"changed": "no", "comment": f"kept week5: {KEPT}"}
    assert fake.commands.count("build") == 1 and fake.commands.count("push") == 1


def test_the_moving_tag_is_still_rebuilt_when_its_inputs_change(context, fake, capsys):
    args = build_args(context, "--push")
    imagectl.main(args)
    (context / "pkg" / "mod.py").write_text("x = 2\n")
    imagectl.main(args)
    assert "built" in stateful_line(capsys)["comment"]
    assert fake.commands.count("build") == 2


def test_rollback_to_a_tag_only_the_registry_has_rebuilds_nothing(context, fake, capsys):
    """week4, then week5 from edited files; the hub pruned its week4; back to week4."""
    imagectl.main(student_args(context, "week4"))
    (context / "pkg" / "mod.py").write_text("import pandas\n")
    imagectl.main(student_args(context, "week5"))
    del fake.images[f"{STUDENT}:week4"]
    capsys.readouterr()
    assert imagectl.main(student_args(context, "week4")) == 0
    assert stateful_line(capsys) == {"changed": "no", "comment": f"kept week4: {KEPT}"}
    assert fake.commands.count("build") == 2 and fake.commands.count("push") == 2


def test_an_immutable_tag_the_registry_lost_is_pushed_again_not_rebuilt(context, fake, capsys):
    imagectl.main(student_args(context, "week5"))
    fake.pushed.clear()
    (context / "pkg" / "mod.py").write_text("x = 2\n")
    assert imagectl.main([*student_args(context, "week5"), "--plan"]) == 0
    assert stateful_line(capsys) == {
        "changed": "yes",
        "comment": f"kept week5: {KEPT}; would push it",
    }
    assert imagectl.main(student_args(context, "week5")) == 0
    line = stateful_line(capsys)
    assert line["changed"] == "yes" and line["comment"].startswith(f"kept week5: {KEPT}; pushed")
    assert fake.commands.count("build") == 1 and fake.commands.count("push") == 2


def test_an_unreachable_registry_never_passes_for_a_missing_tag(context, fake, capsys):
    """Else a hub that lost its local copy would rebuild a tag the nodes already run."""
    fake.registry_down = True
    assert imagectl.main(student_args(context, "week5")) == 1
    assert "cannot tell whether the registry has it" in capsys.readouterr().err
    assert fake.commands.count("build") == 0


def test_a_new_tag_with_the_inputs_of_a_local_image_is_tagged_not_built(context, fake, capsys):
    imagectl.main(student_args(context, "week5"))
    built = fake.images[f"{STUDENT}:week5"]["id"]
    capsys.readouterr()
    assert imagectl.main([*student_args(context, "week6"), "--plan"]) == 0
    line = stateful_line(capsys)
    assert line["changed"] == "yes"
    assert line["comment"] == (
        f"would tag {built[7:19]} (built from the same inputs) as {STUDENT}:week6 and push it"
    )
    assert imagectl.main(student_args(context, "week6")) == 0
    assert "tagged" in stateful_line(capsys)["comment"]
    assert fake.images[f"{STUDENT}:week6"]["id"] == built
    assert fake.commands.count("build") == 1 and f"{STUDENT}:week6" in fake.pushed


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


# --- the registry's answers ----------------------------------------------------------------


class StandInRegistry(http.server.ThreadingHTTPServer):
    """Answers HEAD /v2/<repo>/manifests/<tag> from ``manifests`` (path -> status, digest)."""

    def __init__(self):
        self.manifests = {}
        super().__init__(("127.0.0.1", 0), self.Handler)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_HEAD(self):  # noqa: N802 - http.server's name
            status, digest = self.server.manifests.get(self.path, (404, None))
            self.send_response(status)
            if digest:
                self.send_header("Docker-Content-Digest", digest)
            self.end_headers()

        def log_message(self, *args):
            pass


@pytest.fixture
def registry():
    server = StandInRegistry()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_registry_digest_tells_absent_from_unreachable(registry):
    address = f"127.0.0.1:{registry.server_address[1]}"
    image = f"{address}/jupyterhub-deploy/singleuser:week5"
    registry.manifests["/v2/jupyterhub-deploy/singleuser/manifests/week5"] = (200, REGISTRY_DIGEST)
    assert imagectl.registry_digest(image, strict=True) == REGISTRY_DIGEST
    missing = f"{address}/jupyterhub-deploy/singleuser:week6"
    assert imagectl.registry_digest(missing) is None
    assert imagectl.registry_digest(missing, strict=True) is None
    registry.manifests["/v2/jupyterhub-deploy/singleuser/manifests/week6"] = (500, None)
    assert imagectl.registry_digest(missing) is None
    with pytest.raises(imagectl.Failed, match="answered 500"):
        imagectl.registry_digest(missing, strict=True, attempts=2, pause=0)
    gone = "127.0.0.1:9/jupyterhub-deploy/singleuser:week5"  # nothing listens on discard
    assert imagectl.registry_digest(gone, timeout=2) is None
    with pytest.raises(imagectl.Failed, match="cannot tell whether the registry"):
        imagectl.registry_digest(gone, timeout=2, strict=True, attempts=1)
