"""
A double of the docker command line as salt/images/files/imagectl.py runs it (``FakeDocker``,
for its ``docker`` and ``registry_digest``): local images, containers and a registry's
pushed digests, every command recorded. ``imagectl`` is the script, loaded once here so its
tests and this double raise and read the same module's names; ``build_args`` and
``stateful_line`` run it and read the line salt's cmd.run parses.
"""

import json
import shlex

from tests.common.loaders import load

imagectl = load("salt/images/files/imagectl.py")
IMAGE = "10.0.0.10:5000/jupyterhub-deploy/hub:current"
STUDENT = "10.0.0.10:5000/jupyterhub-deploy/singleuser"


class FakeDocker:
    """
    Local images by name -> {"id", "labels", "repo_digests"}; containers by name -> image
    id; commands recorded (``image inspect`` as "inspect", other ``image X`` as "image X"),
    and every call's arguments in ``calls``.
    """

    def __init__(self, images=None):
        self.images = images or {}
        self.containers = {}
        self.commands = []
        self.calls = []
        self.pushed = {}
        self.registry_down = False

    def __call__(self, *args, check=True):
        self.calls.append(args)
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


def student_args(context, tag, *extra):
    return ["build", "--context", str(context), "--image", f"{STUDENT}:{tag}",
            "--base", "debian:bookworm", "--push", "--immutable", *extra]  # fmt: skip
