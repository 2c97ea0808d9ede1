"""
A real salt-master and four real minions with the example site's ids, on this machine.

The master loads the repository's own master.d/ (paths pointed at this checkout, and the
site pillar at a copy of pillar/example that tests may edit); minions are accepted by
salt-factories itself.
"""

import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest
import yaml

from tests.common.paths import REPO
from tests.common.sites import MINION_IDS

DEPLOY_DIR = "/srv/jupyterhub-deploy"
SITE_DIR = "/srv/jupyterhub-site"


def repo_master_config(site_dir):
    """master.d/*.conf as the hub's master loads it, pointed at this checkout, and the
    nodegroups script/bootstrap --master writes from the site's roles."""
    config = {}
    for path in sorted((REPO / "master.d").glob("*.conf")):
        text = path.read_text().replace(DEPLOY_DIR, str(REPO)).replace(SITE_DIR, str(site_dir))
        config.update(yaml.safe_load(text))
    groups = subprocess.run(
        [sys.executable, str(REPO / "script/nodegroups"), str(site_dir / "site.sls")],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    config.update(yaml.safe_load(groups))
    return config


@pytest.fixture(scope="session")
def salt_factories_config(tmp_path_factory):
    """Daemons under pytest's tmp dir; stop them without the slow graceful wait."""
    return {"root_dir": tmp_path_factory.mktemp("salt"), "slow_stop": False}


@pytest.fixture(scope="package")
def site_dir(tmp_path_factory):
    """A copy of the example site pillar, as /srv/jupyterhub-site on a real hub."""
    path = tmp_path_factory.mktemp("site") / "jupyterhub-site"
    shutil.copytree(REPO / "pillar/example", path)
    return path


@pytest.fixture(scope="package")
def salt_master(salt_factories, site_dir):
    factory = salt_factories.salt_master_daemon(
        "jhd-master", overrides=repo_master_config(site_dir)
    )
    with factory.started():
        yield factory


@pytest.fixture(scope="package")
def minions(salt_master):
    """Every minion of the example topology, started (in parallel) and synced."""
    factories = {
        minion_id: salt_master.salt_minion_daemon(minion_id, overrides={"loop_interval": 1})
        for minion_id in MINION_IDS
    }
    with ThreadPoolExecutor(len(factories)) as pool:
        list(pool.map(lambda factory: factory.start(), factories.values()))
    try:
        ret = salt_master.salt_cli(timeout=120).run(
            "saltutil.sync_all", minion_tgt="*", _timeout=120
        )
        assert ret.returncode == 0, ret
        yield factories
    finally:
        for factory in factories.values():
            factory.terminate()


@pytest.fixture(scope="package")
def salt_cli(salt_master, minions):
    return salt_master.salt_cli(timeout=300)
