"""
The NFS server's files, rendered by the hub minion for the example site and parsed.

Stand-in for a real NFS round trip: this machine's kernel has neither an NFS server nor a
client, so the exports file is checked against exports(5) instead of by exportfs/mount.
"""

import re

import salt.modules.nfs3

from tests.common.sites import EXAMPLE, ROLES

HUB = ROLES["hub"]

# exports(5) options (nfs-utils 2.6, Debian 12).
EXPORT_OPTIONS = {
    "secure", "insecure", "rw", "ro", "async", "sync", "wdelay", "no_wdelay", "nohide",
    "hide", "crossmnt", "no_subtree_check", "subtree_check", "insecure_locks",
    "secure_locks", "no_auth_nlm", "auth_nlm", "mountpoint", "mp", "root_squash",
    "no_root_squash", "all_squash", "no_all_squash", "sec", "fsid", "anonuid", "anongid",
    "refer", "replicas", "pnfs", "no_pnfs", "security_label",
}  # fmt: skip
ENTRY = re.compile(r"^(?P<client>[^\s()]+)\((?P<options>[^()\s]+)\)$")


def render(salt_cli, tmp_path, source):
    dest = tmp_path / source.rsplit("/", 1)[-1]
    ret = salt_cli.run("cp.get_template", source, str(dest), minion_tgt=HUB)
    assert ret.returncode == 0, ret
    return dest


def parse_exports(text):
    """exports(5): `path client(opt,...) ...`, no blank between a client and its options."""
    exports = {}
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        path, *entries = line.split()
        assert path.startswith("/"), line
        assert entries, f"export {path} has no clients"
        clients = {}
        for entry in entries:
            match = ENTRY.match(entry)
            assert match, f"malformed client entry {entry!r} in {line!r}"
            options = match["options"].split(",")
            unknown = {o.split("=")[0] for o in options} - EXPORT_OPTIONS
            assert not unknown, f"unknown export options {unknown}"
            clients[match["client"]] = options
        exports[path] = clients
    return exports


def test_exports_file_lists_every_node_with_the_pillar_options(salt_cli, tmp_path):
    text = render(salt_cli, tmp_path, "salt://nfs/files/exports").read_text()
    exports = parse_exports(text)
    nodes = {EXAMPLE["hosts"][n] for n in ROLES["nodes"]}
    root = "/export"
    assert set(exports) == {root, f"{root}/home", f"{root}/exchange"}
    for path, clients in exports.items():
        assert set(clients) == nodes, path
    for options in exports[root].values():
        assert "fsid=0" in options and "ro" in options
    for options in exports[f"{root}/home"].values():
        assert options == ["rw", "sync", "no_subtree_check", "root_squash"]
    # salt's own parser (salt.modules.nfs3) reads the same structure.
    salt_view = salt.modules.nfs3.list_exports(str(tmp_path / "exports"))
    assert {e["hosts"] for e in salt_view[f"{root}/home"]} == nodes


def test_idmapd_domain_comes_from_pillar(salt_cli, tmp_path):
    text = render(salt_cli, tmp_path, "salt://nfs/files/idmapd.conf").read_text()
    assert "Domain = example.edu" in text.splitlines()


def test_node_mounts_home_hard_from_the_hub(salt_cli):
    node = ROLES["nodes"][0]
    ret = salt_cli.run("state.show_sls", "nfs.client", minion_tgt=node)
    assert ret.returncode == 0, ret
    mount = {k: v for d in ret.data["nfs-mount-home"]["mount"] if isinstance(d, dict)
             for k, v in d.items()}  # fmt: skip
    assert mount["device"] == f"{EXAMPLE['hosts'][HUB]}:/home"
    assert mount["fstype"] == "nfs4"
    assert "hard" in mount["opts"]
