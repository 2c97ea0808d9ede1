"""The shipped site pillars (pillar/example, pillar/lab) as the master hands them to a minion."""

import pytest
import yaml

from tests.common.loaders import load
from tests.common.paths import REPO

deploy = load("_pillar/jupyterhub_deploy.py")
DEFAULTS = deploy.load_defaults(str(REPO / "salt"))


def read(relpath):
    return yaml.safe_load((REPO / relpath).read_text()) or {}


# The example site as shipped: its hosts and roles, the minion ids the integration tier starts.
EXAMPLE = read("pillar/example/site.sls")
ROLES = EXAMPLE["roles"]
MINION_IDS = [ROLES["proxy"], ROLES["hub"], *ROLES["nodes"]]


def merge(base, extra):
    """Salt's recursive pillar merge, enough of it for these files."""
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            merge(base[key], value)
        else:
            base[key] = value
    return base


def sls_pillar(site="example", secrets=("hub",)):
    """What a minion's sls pillar holds: site.sls plus the secrets targeted at it."""
    pillar = read(f"pillar/{site}/site.sls")
    for role in secrets:
        merge(pillar, read(f"pillar/{site}/secrets/{role}.sls"))
    return pillar


def minion_pillar(site="example", role="hub"):
    """The merged, validated pillar of the site's minion with `role` (proxy, hub or node)."""
    pillar = sls_pillar(site, (role,) if role in ("hub", "proxy") else ())
    roles = pillar["roles"]
    minion_id = roles["nodes"][0] if role == "node" else roles[role]
    return deploy.build(minion_id, pillar, DEFAULTS)


def pillar_with_tag(tag, role="hub"):
    """The example site's pillar for the hub (or a node) with images:singleuser_tag set."""
    site = sls_pillar("example", ("hub",) if role == "hub" else ())
    site["images"]["singleuser_tag"] = tag
    minion = site["roles"]["hub"] if role == "hub" else site["roles"]["nodes"][0]
    return deploy.build(minion, site, DEFAULTS)


def errors_of(minion_id, pillar):
    """The PillarError the validator raises for ``pillar`` on ``minion_id``: its message."""
    with pytest.raises(deploy.PillarError) as info:
        deploy.build(minion_id, pillar, DEFAULTS)
    return str(info.value)
