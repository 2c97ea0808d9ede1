"""
A minion cannot claim a role (issue #18 item 5). Seen in the lab before: after
`salt-call pillar.items pillar='{"roles": {..., "nodes": [..., "proxy"]}}'` on the proxy, the
master's `salt --preview-target -N nodes` listed the proxy, because the nodegroups matched
`I@minion_roles`, pillar the master caches after merging a minion-supplied override. Now
the nodegroups and the mine's ACL for the swarm worker token are minion-id lists written
from the site pillar.
"""

import json

from tests.common.lab import SITE

NODES = SITE["roles"]["nodes"]


def preview(lab, group):
    proc = lab.exec("hub", "salt", "-c", "/srv/jupyterhub-deploy/etc", "--out=json",
                    "--preview-target", "-N", group)  # fmt: skip
    return sorted(json.loads(proc.stdout) if proc.stdout.strip() else [])


def test_a_forged_pillar_override_changes_no_targeting_and_yields_no_token(lab):
    roles = {**SITE["roles"], "nodes": [*NODES, "proxy"]}
    forged = json.dumps({"roles": roles, "minion_roles": ["proxy", "node"]})
    lab.exec("proxy", "salt-call", "--out=json", "pillar.items", f"pillar={forged}")
    assert preview(lab, "nodes") == sorted(NODES)
    assert preview(lab, "proxy") == ["proxy"]
    assert lab.salt("proxy", "mine.get", "hub", "swarm_worker_token") == {"proxy": {}}
    # The nodes still get it.
    token = lab.salt(NODES[0], "mine.get", "hub", "swarm_worker_token")[NODES[0]]["hub"]
    assert token["token"].startswith("SWMTKN-")
