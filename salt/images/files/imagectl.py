#!/usr/bin/env python3
"""
Build, push and pull our images idempotently, for salt's ``cmd.run`` with ``stateful``.

saltext-dockermod's ``docker_image.present`` either never rebuilds an existing tag or,
with ``force``, rebuilds and reports a change on every run (it compares a 12-character
build id with a ``sha256:``-prefixed one). So salt runs this instead:

``imagectl.py build --context DIR --image REG/REPO:TAG --base IMAGE [--ca-cert PEM]... [--push]``
``[--push-via HOST:PORT] [--record FILE] [--immutable]``
``[--build-arg NAME=VALUE]...``
    Builds DIR (plus the extra CA certificates as ``ca-certificates/*.crt``, the base
    image as the build argument BASE_IMAGE, and the other build arguments) unless the
    image already carries the label with the digest of exactly those inputs; then pushes
    it unless the registry already has that image. A local image built from exactly those
    inputs under another tag is tagged instead of built again. With ``--immutable`` a tag
    that exists (in the registry or locally) is never rebuilt, whatever changed: a tag
    names one image for good, so setting an older tag back is a rollback. Only the moving
    tag (images:tag) is rebuilt in place. ``--push-via`` pushes through another address
    of the same registry (the hub's loopback side: REG itself is read-only). ``--record``
    writes the image's digest to FILE (``{"image", "digest", "built"}``, built: every
    tag's): the hub spawns that digest, never the tag, so a tag re-pushed behind our back
    is not what students run (issue #18).
``imagectl.py pull --image REG/REPO:TAG [--digest sha256:...]``
    Pulls the image unless the local copy is the registry's (the nodes' pre-pull); with
    ``--digest``, pulls exactly that digest and tags it locally as REG/REPO:TAG.
``imagectl.py prune --repository REG/REPO --keep TAG``
    Removes the local tags of REPO other than TAG whose image no container, running or
    stopped, uses (a student's server keeps the image it started with until it restarts).
    Local copies only: the registry keeps every tag.

Each prints salt's stateful line last (``changed=yes|no comment='...'``). ``--check``
changes nothing and exits 0 when there is nothing to do (salt's ``unless``), so test=True
runs tell the truth. Standard library only, and the docker CLI.

Why one file of about 550 lines: salt copies it alone to the hub and every node
(salt/images/imagectl.sls) and runs it with the system python3, so it stays a
single standard-library script.
"""

import argparse
import glob
import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

LABEL = "org.jupyterhub-deploy.inputs"
MANIFEST_TYPES = ", ".join(
    [
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json",
    ]
)
SKIP = ("__pycache__", ".pytest_cache")


class Failed(Exception):
    """A docker command failed; the message says which and why."""


def docker(*args, check=True):
    """Run the docker CLI; its stdout, or None when it failed and check is False."""
    proc = subprocess.run(["docker", *args], capture_output=True, text=True)
    if proc.returncode != 0:
        if check:
            detail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
            raise Failed(f"docker {' '.join(args[:2])} failed: " + " / ".join(detail))
        return None
    return proc.stdout


# --- inputs --------------------------------------------------------------------------------


def context_files(context):
    """Relative paths of the files of a build context, sorted, without caches."""
    found = []
    for root, dirs, files in os.walk(context):
        dirs[:] = sorted(d for d in dirs if d not in SKIP)
        for name in files:
            if name.endswith(".pyc"):
                continue
            found.append(os.path.relpath(os.path.join(root, name), context))
    return sorted(found)


def ca_name(index, path):
    """The name a CA certificate gets in the build context (update-ca-certificates: .crt)."""
    base = os.path.splitext(os.path.basename(path))[0]
    return f"{index:02d}-{base}.crt"


def inputs_digest(context, ca_certs, base, base_id, build_args=()):
    """sha256 of everything the image is built from."""
    digest = hashlib.sha256()

    def add(tag, data):
        digest.update(f"{tag}:{len(data)}:".encode())
        digest.update(data)

    add("base", f"{base}@{base_id or ''}".encode())
    for arg in sorted(build_args):
        add("arg", arg.encode())
    for rel in context_files(context):
        with open(os.path.join(context, rel), "rb") as handle:
            add(f"file {rel}", handle.read())
    for index, path in enumerate(ca_certs):
        with open(path, "rb") as handle:
            add(f"ca {ca_name(index, path)}", handle.read())
    return digest.hexdigest()


def assemble(context, ca_certs, dest):
    """Copy the context to dest and add ca-certificates/ (always there, maybe empty)."""
    shutil.copytree(context, dest, ignore=shutil.ignore_patterns(*SKIP, "*.pyc"))
    ca_dir = os.path.join(dest, "ca-certificates")
    os.makedirs(ca_dir, exist_ok=True)
    for index, path in enumerate(ca_certs):
        shutil.copyfile(path, os.path.join(ca_dir, ca_name(index, path)))


# --- local images and the registry ---------------------------------------------------------


def image_id(image):
    out = docker("image", "inspect", "--format", "{{.Id}}", image, check=False)
    return out.strip() if out else None


def image_label(image):
    out = docker("image", "inspect", "--format", "{{json .Config.Labels}}", image, check=False)
    if not out:
        return None
    return (json.loads(out) or {}).get(LABEL)


def repo_digests(image):
    out = docker("image", "inspect", "--format", "{{json .RepoDigests}}", image, check=False)
    return set(json.loads(out) or []) if out else set()


def split_image(image):
    """``(registry, repository, tag)`` of ``host:port/repo/name:tag``."""
    registry, _, rest = image.partition("/")
    repository, _, tag = rest.rpartition(":")
    if not repository or "/" in tag:
        repository, tag = rest, "latest"
    return registry, repository, tag


def registry_digest(image, timeout=10, strict=False, attempts=3, pause=2.0):
    """
    The registry's manifest digest of image; None when it has none, or when it cannot be
    asked. ``strict``: a registry that cannot be asked (after ``attempts``: it may be
    starting) raises Failed, for callers that must not take "unreachable" for "absent".
    """
    registry, repository, tag = split_image(image)
    request = urllib.request.Request(
        f"http://{registry}/v2/{repository}/manifests/{tag}",
        method="HEAD",
        headers={"Accept": MANIFEST_TYPES},
    )
    # The registry is on the private network: never through an HTTP proxy from the env.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    for attempt in range(attempts if strict else 1):
        try:
            with opener.open(request, timeout=timeout) as response:
                return response.headers.get("Docker-Content-Digest") or "unknown"
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return None
            problem = f"it answered {exc.code}"
        except (urllib.error.URLError, OSError) as exc:
            problem = str(getattr(exc, "reason", exc))
        if attempt + 1 < attempts and strict:
            time.sleep(pause)
    if strict:
        raise Failed(f"cannot tell whether the registry {registry} has {image}: {problem}")
    return None


def built_from(digest):
    """The id of a local image built from exactly these inputs (under any tag), or None."""
    out = docker("image", "ls", "--no-trunc", "--quiet", "--filter", f"label={LABEL}={digest}")
    ids = (out or "").split()
    return ids[0] if ids else None


def local_tags(repository):
    """``{tag: image id}`` of the local images of repository (untagged ones left out)."""
    out = docker("image", "ls", "--no-trunc", "--format", "{{.Repository}}\t{{.Tag}}\t{{.ID}}")
    tags = {}
    for line in (out or "").splitlines():
        # Compared here, not by `docker image ls REPOSITORY`, whose argument is a pattern.
        repo, tag, ident = (line.split("\t") + ["", ""])[:3]
        if repo == repository and tag and tag != "<none>" and ident:
            tags[tag] = ident
    return tags


def container_images(retries=1):
    """``{image id: [container name, ...]}`` of every container, running or stopped."""
    ids = (docker("container", "ls", "--all", "--quiet", "--no-trunc") or "").split()
    if not ids:
        return {}
    out = docker("container", "inspect", "--format", "{{.Image}} {{.Name}}", *ids, check=False)
    if out is None:
        # A container went away between the two calls (swarm removes stopped servers).
        if retries:
            return container_images(retries - 1)
        raise Failed("docker container inspect failed twice: containers keep changing")
    used = {}
    for line in out.splitlines():
        ident, _, name = line.partition(" ")
        if ident:
            used.setdefault(ident, []).append(name.lstrip("/"))
    return used


def local_digests(image):
    """The manifest digests the local image has in image's repository (any registry address:
    the hub pushes through its loopback side)."""
    _, repository, _ = split_image(image)
    found = set()
    for reference in repo_digests(image):
        name, _, digest = reference.partition("@")
        if name.split("/", 1)[-1] == repository:
            found.add(digest)
    return found


def in_registry(image):
    """True when the registry's image is the local one (same manifest digest)."""
    remote = registry_digest(image)
    return bool(remote) and remote in local_digests(image)


def push(image, via):
    """Push image (through the registry address ``via``, when given); its manifest digest."""
    registry, repository, tag = split_image(image)
    alias = f"{via}/{repository}:{tag}" if via else image
    if via:
        docker("tag", image, alias)
    try:
        out = docker("push", alias)
        digest = next((w for w in reversed(out.split()) if w.startswith("sha256:")), None)
        if not digest:
            raise Failed(f"docker push {alias} printed no digest")
        if via:
            # From the pull side: proves it serves the digest, and gives the image its
            # RepoDigest under its own name (removing the alias drops the alias's).
            docker("pull", "--quiet", f"{registry}/{repository}@{digest}")
    finally:
        if via:
            docker("image", "rm", alias, check=False)  # the alias only: the image stays
    return digest


def read_record(path):
    """``{"image", "digest", "built"}`` recorded by an earlier build, or None."""
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return None


def wanted_record(args, pushed):
    """
    ``(old, new)``: the record file's contents and what they should be, ``{"image",
    "digest", "built": {image: digest}}``. The digest is the one just pushed, else the local
    image's (ours, as built; the recorded one while the image still has it), else the one
    recorded for that tag before (a rollback to a tag the hub pruned), and only on a hub
    that has none of them, the registry's.
    """
    old = read_record(args.record) or {}
    built = dict(old.get("built") or {})
    local = local_digests(args.image)
    kept = built.get(args.image) if built.get(args.image) in local else None
    digest = pushed or kept or min(local, default=None) or built.get(args.image)
    if not digest:
        digest = registry_digest(args.image, strict=True)
        if not digest:
            raise Failed(f"the registry has no {args.image} to record")
    built[args.image] = digest
    return old, {"image": args.image, "digest": digest, "built": built}


def record_digest(args, pushed):
    """Write the record wanted_record says; True when it changed."""
    old, new = wanted_record(args, pushed)
    if new == old:
        return False
    directory = os.path.dirname(os.path.abspath(args.record))
    os.makedirs(directory, mode=0o755, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=directory, delete=False) as handle:
        json.dump(new, handle)
    os.chmod(handle.name, 0o644)
    os.replace(handle.name, args.record)
    return True


def record_needed(args):
    """Whether args.record would change with nothing to build or push (--check, --plan)."""
    if not args.record:
        return False
    old, new = wanted_record(args, None)
    return new != old


# --- the commands --------------------------------------------------------------------------


KEPT = (
    "kept {tag}: already built (tags are immutable; choose a new images:singleuser_tag to rebuild)"
)


def build_needed(args):
    """
    ``(needs building, needs pushing, digest of the inputs, source, kept)``: source is a
    local image with exactly these inputs to tag instead of building (or None); kept is the
    comment when an immutable tag exists already (or None).
    """
    base_id = image_id(args.base)
    digest = inputs_digest(args.context, args.ca_cert, args.base, base_id, args.build_arg)
    if args.immutable:
        local = image_id(args.image)
        # With no local copy "the registry cannot be asked" must not pass for "it has none":
        # that would rebuild and overwrite the tag.
        remote = registry_digest(args.image, strict=not local) if args.push else None
        if local or remote:
            # Built once: never again. Pushed only when the registry lacks it altogether (a
            # registry that has the tag keeps its image, which the nodes already have).
            kept = KEPT.format(tag=split_image(args.image)[2])
            return False, bool(args.push and not remote), digest, None, kept
    build = image_label(args.image) != digest
    source = built_from(digest) if build else None
    push = args.push and (build or not in_registry(args.image))
    return build, push, digest, source, None


def build(args):
    needs_build, needs_push, digest, source, kept = build_needed(args)
    needs_record = needs_build or needs_push or record_needed(args)
    if args.check:
        return 1 if (needs_build or needs_push or needs_record) else 0, ""
    if args.plan:
        if needs_record and not (needs_build or needs_push):
            return 0, stateful(True, f"would record the digest of {args.image}")
        if kept:
            return 0, stateful(needs_push, kept + ("; would push it" if needs_push else ""))
        if needs_build and source:
            text = f"would tag {source[7:19]} (built from the same inputs) as {args.image}"
            return 0, stateful(True, text + (" and push it" if needs_push else ""))
        todo = [w for w, needed in (("build", needs_build), ("push", needs_push)) if needed]
        if todo:
            return 0, stateful(True, f"would {' and '.join(todo)} {args.image}")
        return 0, stateful(False, f"{args.image} is up to date (inputs {digest[:12]})")
    done = [kept] if kept else []
    if needs_build and source:
        docker("tag", source, args.image)
        done.append(f"tagged {source[7:19]} (built from the same inputs) as {args.image}")
    elif needs_build:
        started = time.monotonic()
        with tempfile.TemporaryDirectory(prefix="imagectl-") as tmp:
            dest = os.path.join(tmp, "context")
            assemble(args.context, args.ca_cert, dest)
            docker(
                "build",
                "--build-arg",
                f"BASE_IMAGE={args.base}",
                *(word for arg in args.build_arg for word in ("--build-arg", arg)),
                "--label",
                f"{LABEL}={digest}",
                "--tag",
                args.image,
                dest,
            )
        done.append(f"built {args.image} in {time.monotonic() - started:.0f}s")
    pushed = None
    if needs_push:
        started = time.monotonic()
        pushed = push(args.image, args.push_via)
        done.append(f"pushed it in {time.monotonic() - started:.0f}s")
    recorded = bool(args.record) and record_digest(args, pushed)
    if recorded:
        done.append(f"recorded {read_record(args.record)['digest'][:19]}")
    if needs_build or needs_push or recorded:
        return 0, stateful(True, "; ".join(done))
    if kept:
        return 0, stateful(False, kept)
    return 0, stateful(False, f"{args.image} is up to date (inputs {digest[:12]})")


def pull(args):
    if args.digest:
        return pull_digest(args)
    current = in_registry(args.image)
    if args.check:
        return (0 if current else 1), ""
    if args.plan:
        if current:
            return 0, stateful(False, f"{args.image} matches the registry")
        return 0, stateful(True, f"would pull {args.image}")
    if current:
        return 0, stateful(False, f"{args.image} matches the registry")
    before = image_id(args.image)
    docker("pull", args.image)
    after = image_id(args.image)
    if before == after:
        return 0, stateful(False, f"{args.image} already matched the registry")
    return 0, stateful(True, f"pulled {args.image} ({(after or '')[7:19]})")


def pull_digest(args):
    """Pull exactly args.digest and tag it as args.image (whatever the registry's tag says)."""
    registry, repository, _ = split_image(args.image)
    pinned = f"{registry}/{repository}@{args.digest}"
    current = args.digest in local_digests(args.image)
    if args.check:
        return (0 if current else 1), ""
    if current:
        return 0, stateful(False, f"{args.image} is {args.digest[:19]}")
    if args.plan:
        return 0, stateful(True, f"would pull {pinned[-80:]} as {args.image}")
    docker("pull", pinned)
    docker("tag", pinned, args.image)
    return 0, stateful(True, f"pulled {args.digest[:19]} as {args.image}")


def prune_plan(args):
    """``(tags to remove, {tag: a container using its image})`` of args.repository."""
    tags = local_tags(args.repository)
    others = any(tag != args.keep for tag in tags)
    used = container_images() if others else {}
    remove, kept = [], {}
    for tag, ident in sorted(tags.items()):
        if tag == args.keep:
            continue
        if ident in used:
            kept[tag] = used[ident][0]
        else:
            remove.append(tag)
    return remove, kept


def prune(args):
    remove, kept = prune_plan(args)
    if args.check:
        return (1 if remove else 0), ""
    removed = []
    for tag in remove:
        if args.plan:
            removed.append(tag)
            continue
        try:
            docker("image", "rm", f"{args.repository}:{tag}")
        except Failed as exc:
            if "conflict" not in str(exc):
                raise
            # A container started from it since we looked: Docker keeps it, so do we.
            kept[tag] = "a new container"
        else:
            removed.append(tag)
    parts = []
    if removed:
        verb = "would remove" if args.plan else "removed"
        parts.append(f"{verb} {', '.join(removed)} of {args.repository} (no container uses them)")
    for tag, container in sorted(kept.items()):
        parts.append(f"kept {tag}: {container} uses it")
    if not parts:
        parts.append(f"{args.repository} has no tags to remove besides {args.keep}")
    return 0, stateful(bool(removed), "; ".join(parts))


def stateful(changed, comment):
    """Salt's stateful line (its parser splits each pair at every '=': none in comments)."""
    comment = comment.replace("=", ":")
    return f"changed={'yes' if changed else 'no'} comment={shlex.quote(comment)}"


def build_arg(text):
    name, sep, _value = text.partition("=")
    if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) or name == "BASE_IMAGE":
        raise argparse.ArgumentTypeError(f"{text!r}: expected NAME=VALUE (not BASE_IMAGE)")
    return text


def parse(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="build (and push) an image when its inputs changed")
    b.add_argument("--context", required=True, help="directory with the Dockerfile")
    b.add_argument("--image", required=True, help="registry/repository:tag")
    b.add_argument("--base", required=True, help="base image (build argument BASE_IMAGE)")
    b.add_argument(
        "--ca-cert",
        action="append",
        default=[],
        help="extra CA (PEM file, or a directory of *.crt), repeatable",
    )
    b.add_argument("--push", action="store_true", help="push to the image's registry")
    b.add_argument(
        "--push-via", help="push through this address of the registry (HOST:PORT) instead"
    )
    b.add_argument("--record", help="write the pushed image's digest to this JSON file")
    b.add_argument(
        "--immutable",
        action="store_true",
        help="never rebuild the tag once it exists (in the registry or locally)",
    )
    b.add_argument(
        "--build-arg",
        action="append",
        default=[],
        type=build_arg,
        help="NAME=VALUE for the Dockerfile's ARG NAME (part of the inputs), repeatable",
    )
    p = sub.add_parser("pull", help="pull an image unless the local copy is current")
    p.add_argument("--image", required=True)
    p.add_argument("--digest", help="pull this manifest digest (sha256:...) as --image")
    r = sub.add_parser("prune", help="remove local tags of a repository that nothing uses")
    r.add_argument("--repository", required=True, help="registry/repository, without a tag")
    r.add_argument("--keep", required=True, help="the tag to keep (the one in use)")
    for command in (b, p, r):
        command.add_argument("--check", action="store_true", help="exit 0 when nothing is to do")
        command.add_argument("--plan", action="store_true",
                             help="print what a run would do, as a stateful line")  # fmt: skip
    return parser.parse_args(argv)


def expand_ca_certs(paths):
    """A directory stands for the *.crt files in it (update-ca-certificates' layout)."""
    found = []
    for path in paths:
        if os.path.isdir(path):
            found.extend(sorted(glob.glob(os.path.join(path, "*.crt"))))
        else:
            found.append(path)
    return found


def main(argv=None):
    args = parse(argv)
    if args.command == "build":
        args.ca_cert = expand_ca_certs(args.ca_cert)
    try:
        code, line = {"build": build, "pull": pull, "prune": prune}[args.command](args)
    except (Failed, OSError) as exc:
        print(f"imagectl: {exc}", file=sys.stderr)
        return 1
    if line:
        print(line)
    return code


if __name__ == "__main__":
    sys.exit(main())
