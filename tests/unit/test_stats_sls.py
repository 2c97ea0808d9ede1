"""salt/stats: the schedule that records activity every interval, removed when disabled,
applied on the hub alone and after the hub."""

import jinja2
import yaml

from tests.common.paths import REPO
from tests.common.sites import minion_pillar


def render(pillar):
    env = jinja2.Environment(undefined=jinja2.StrictUndefined)
    text = (REPO / "salt/stats/init.sls").read_text()
    return yaml.safe_load(env.from_string(text).render(pillar=pillar))


def test_the_sls_schedules_record_every_interval():
    pillar = minion_pillar("example", "hub")
    states = render(pillar)
    assert states["stats-db-dir"]["file.directory"] == [
        {"name": "/srv/stats/db"},
        {"user": "root"},
        {"group": "root"},
        {"mode": "0700"},
        {"makedirs": True},
    ]
    schedule = states["stats-schedule"]["schedule.present"]
    assert {"name": "jupyterhub-deploy-stats"} in schedule
    assert {"function": "stats.record"} in schedule
    assert {"seconds": 600} in schedule
    assert {"persist": True} in schedule
    assert {"require": [{"file": "stats-db-dir"}]} in schedule


def test_the_sls_removes_the_schedule_when_disabled():
    pillar = minion_pillar("example", "hub")
    pillar["stats"]["enabled"] = False
    states = render(pillar)
    assert states["stats-schedule"] == {
        "schedule.absent": [{"name": "jupyterhub-deploy-stats"}, {"persist": True}]
    }
    assert "stats-db-dir" in states


def test_the_hub_and_only_the_hub_applies_stats_after_the_hub():
    top = yaml.safe_load((REPO / "salt/top.sls").read_text())["base"]
    hub = top["hub"]
    assert hub.index("stats") > hub.index("hub")
    assert all("stats" not in states for target, states in top.items() if target != "hub")
