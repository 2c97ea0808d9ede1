"""
The jupyterhub_deploy ext_pillar as a salt master compiles it: salt.pillar.Pillar with this
checkout's master.d (paths pointed at it), in-process, no daemons. It runs the checks in
_pillar/_jupyterhub_deploy_checks*.py, which salt's loader never offers as ext_pillars of
their own (their names start with "_"); integration/test_bad_pillar.py does the same with a
real master and minions.
"""

import logging
import shutil
import subprocess
import sys

import pytest
import salt.config
import salt.loader
import salt.pillar
import yaml

from tests.common.paths import REPO


@pytest.fixture
def master(tmp_path):
    """``compile(minion_id)``: a minion's pillar; ``site``: the site pillar it reads."""
    site = tmp_path / "site"
    shutil.copytree(REPO / "pillar/example", site)
    opts = salt.config.master_config(None)
    for path in sorted((REPO / "master.d").glob("*.conf")):
        text = path.read_text().replace("/srv/jupyterhub-deploy", str(REPO))
        opts.update(yaml.safe_load(text.replace("/srv/jupyterhub-site", str(site))))
    # What script/bootstrap --master writes beside them.
    groups = subprocess.run(
        [sys.executable, str(REPO / "script/nodegroups"), str(site / "site.sls")],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    opts.update(yaml.safe_load(groups))
    for key in ("cachedir", "pki_dir", "sock_dir", "extension_modules"):
        opts[key] = str(tmp_path / key)

    class Master:
        def compile(self, minion_id):
            pillar = salt.pillar.Pillar(opts, {"id": minion_id}, minion_id, "base")
            return pillar.compile_pillar()

    Master.opts, Master.site = opts, site / "site.sls"
    return Master()


def test_the_loader_offers_the_ext_pillar_and_never_its_checks(master):
    pillars = salt.loader.pillars(master.opts, {})
    assert "jupyterhub_deploy" in list(pillars)
    loaded = [name for name in sys.modules if name.startswith("salt.loaded.ext.pillar.")]
    assert "salt.loaded.ext.pillar.jupyterhub_deploy" in loaded
    assert not [name for name in loaded if "checks" in name]


def test_the_master_merges_and_derives_the_example_site(master):
    pillar = master.compile("hub.example.edu")
    assert "_errors" not in pillar, pillar["_errors"]
    assert pillar["minion_roles"] == ["hub"]
    assert pillar["cull"]["timeout"] == 24 * 3600
    assert "jupyterhub_idle" in pillar["beacons"]


def test_the_master_refuses_an_invalid_site_naming_the_key(master, monkeypatch):
    # Salt logs the refusal at CRITICAL through a handler it bound to stderr at import, which
    # pytest has closed by exit: keep it from printing "Logging error" then.
    monkeypatch.setattr(logging.getLogger("salt.pillar"), "propagate", False)
    text = master.site.read_text()
    assert "  timeout: 24h" in text
    master.site.write_text(text.replace("  timeout: 24h", "  timout: 24h", 1))
    errors = master.compile("node1.example.edu")["_errors"]
    assert "'cull:timout' is not a known key (did you mean 'cull:timeout'?)" in str(errors)


def test_a_master_whose_nodegroups_lag_the_site_s_roles_renders_nothing(master, monkeypatch):
    """Roles changed in site.sls, bootstrap not run again: the master would still target
    the old minion ids, so nothing renders until it is."""
    monkeypatch.setattr(logging.getLogger("salt.pillar"), "propagate", False)
    text = master.site.read_text()
    assert "    - node2.example.edu\n" in text
    master.site.write_text(text.replace("    - node2.example.edu\n", "", 1))
    errors = str(master.compile("hub.example.edu")["_errors"])
    assert "the salt master's nodegroups" in errors and "script/bootstrap --master" in errors
