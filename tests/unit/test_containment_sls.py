"""salt/swarm/containment.sls: what the nodes' jhd-containment is told to allow and drop."""

from tests.common.sites import DEFAULTS, deploy
from tests.common.sites import sls_pillar as site_pillar
from tests.common.sls_render import render_sls

NODE = "node1.example.edu"


def config_file(site):
    pillar = deploy.build(NODE, site, DEFAULTS)
    states = render_sls("swarm/containment.sls", pillar, NODE)
    managed = dict(p for item in states["swarm-containment-addresses"]["file.managed"]
                   for p in item.items())  # fmt: skip
    return dict(line.split("=", 1) for line in managed["contents"].splitlines())


def test_the_hub_and_nodes_are_blocked_the_proxy_named_nothing_else_allowed():
    assert config_file(site_pillar(secrets=())) == {
        "BLOCKED": '"10.0.0.10 10.0.0.11 10.0.0.12"',
        "PROXY": '"10.0.0.2"',
        "ALLOW": '""',
    }


def test_the_site_s_allow_list_arrives_as_networks():
    site = site_pillar(secrets=())
    site["swarm"] = {"containment_allow": ["10.20.0.5", "10.30.1.7/24", "2001:db8::1/64"]}
    allow = config_file(site)["ALLOW"]
    assert allow == '"10.20.0.5/32 10.30.1.0/24 2001:db8::/64"'
