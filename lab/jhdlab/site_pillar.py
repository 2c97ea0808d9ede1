"""
The site pillar the lab writes: a copy of pillar/lab for the topology asked for, in which
only the `hosts:`, `roles:` (and on one host `backup:` and `swarm:`) blocks, the proxy's
`public_port` and ACME `directory_ca` (the lab's Pebble), the images' `base` (the lab's
release) and, with `up --jupyterhub-version`,
`hub:jupyterhub_version` differ; and scalars read from the lab's pillar for the Google
stand-in.
"""

import re
import shutil

from .acme import directory_ca, tsig_secret
from .common import LAB_PILLAR, STATE_DIR, LabError, ensure_state_dir, log


class SitePillar:
    """
    The site pillar half of a Topology (hosts.py), which gives it `hosts`, `name`,
    `release`, `standin_address`, `https_port`, `jupyterhub_version` and `by_role()`.
    """

    def site_blocks(self):
        """The site pillar's `hosts:` and `roles:` blocks (`backup:` and `swarm:` on one host)."""
        hosts = "".join(f"  {h.id}: {h.address}\n" for h in self.hosts)
        roles = (
            f"  proxy: {self.by_role('proxy')[0]}\n"
            f"  hub: {self.by_role('hub')[0]}\n"
            f"  nodes: [{', '.join(self.by_role('node'))}]\n"
        )
        blocks = {"hosts": "hosts:\n" + hosts, "roles": "roles:\n" + roles}
        if len(self.hosts) == 1:
            # Backups go to another host (backup:target_host); one host has none.
            blocks["backup"] = (
                "backup:\n  # The one-host lab has no other host to back up to.\n  enabled: false\n"
            )
            blocks["swarm"] = (
                "swarm:\n  # The hub's container reaches the Google stand-in through the\n"
                "  # students' bridge on one host.\n"
                f"  containment_allow: [{self.standin_address}/32]\n"
            )
        return blocks

    def prepare_site_pillar(self):
        """
        A copy of pillar/lab under .lab/site/<lab> for this topology, refreshed at every
        `up`: what the master mounts as the site pillar. Being a copy, it can be edited on
        a running lab (the e2e tests shorten the cull timeout this way) and the next `up`
        puts it back.
        """
        blocks = self.site_blocks()
        # The HTTPS port browsers use (redirects, OAuth callback) is the published one.
        port_line = f"  public_port: {self.https_port}\n"
        site_sls = LAB_PILLAR / "site.sls"
        if not site_sls.exists():
            raise LabError(f"{site_sls} not found: the lab needs the lab site pillar")
        text = site_sls.read_text()
        ensure_state_dir()
        name = self.name if self.https_port == 8443 else f"{self.name}-{self.https_port}"
        target = STATE_DIR / "site" / name
        target.mkdir(parents=True, exist_ok=True)
        # Refill in place: the hub bind-mounts this directory.
        for child in target.iterdir():
            shutil.rmtree(child) if child.is_dir() else child.unlink()
        shutil.copytree(LAB_PILLAR, target, dirs_exist_ok=True)
        for key, block in blocks.items():
            text, count = re.subn(
                rf"(?m)^{key}:\n(?:[ \t#].*\n|\n)*?(?=^\S|\Z)",
                lambda _m, b=block: b + "\n",
                text,
                count=1,
            )
            if count != 1:
                raise LabError(f"{site_sls}: no top-level `{key}:` block to replace")
        # The hub's and students' images build on the lab's base image of this release.
        base_line = f"  base: jupyterhub-deploy/debian:{self.release}\n"
        text, count = re.subn(r"(?m)^  base: jupyterhub-deploy/debian:.*\n", base_line, text)
        if count != 1:
            raise LabError(f"{site_sls}: no `images: base: jupyterhub-deploy/debian:...` line")
        if self.jupyterhub_version:
            # `up --jupyterhub-version`: the site on another release (the upgrade test).
            line = f"hub:\n  jupyterhub_version: {self.jupyterhub_version}\n"
            text, count = re.subn(r"(?m)^hub:\n", line, text, count=1)
            if count != 1:
                raise LabError(f"{site_sls}: no top-level `hub:` block")
        # The lab's ACME server's HTTPS CA (lab/jhdlab/acme.py makes it per checkout).
        ca = "".join(f"        {line}\n" for line in directory_ca().splitlines())
        text, count = re.subn(
            r"(?m)^(      directory: https://localhost:14000/dir\n)",
            lambda m: m.group(1) + "      directory_ca: |\n" + ca,
            text,
            count=1,
        )
        if count != 1:
            log(f"{site_sls} has no lab ACME directory: the proxy cannot trust Pebble", "site")
        text, count = re.subn(r"(?m)^  public_port: .*\n", port_line, text, count=1)
        if count != 1:
            log(f"{site_sls} has no proxy public_port: redirects may miss the port", "site")
        # The lab's TSIG key for dns-01 (lab/jhdlab/acme.py makes it per checkout).
        proxy_secrets = target / "secrets" / "proxy.sls"
        proxy_secrets.write_text(
            proxy_secrets.read_text().replace(
                "\n{}",
                f'\nproxy:\n  tls:\n    acme:\n      dns:\n        key_secret: "{tsig_secret()}"',
            )
            + "\n"
        )
        (target / "site.sls").write_text(
            f"# Generated by script/lab from pillar/lab/site.sls for the {name} lab: only\n"
            f"# {', '.join(f'`{k}:`' for k in blocks)}, proxy `public_port` and images `base`"
            " differ.\n"
            "# Edit pillar/lab: the next `script/lab up` overwrites this copy.\n" + text
        )
        return target


def lab_pillar_value(relpath, key):
    """A scalar `key: value` from the lab's pillar files (stdlib only: no YAML parser)."""
    text = (LAB_PILLAR / relpath).read_text()
    match = re.search(rf"(?m)^\s*{key}:\s*(\S+)\s*$", text)
    if not match:
        raise LabError(f"pillar/lab/{relpath}: no `{key}:` for the Google stand-in")
    return match.group(1)
