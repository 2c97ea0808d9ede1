"""
The hub client, cull state and idle beacon loaded by salt's own loader, as a minion loads
them, against the stand-in hub API of the unit tests (tests/common/fake_hub.py, loopback).

The loader matters: salt's dunders (__pillar__, __opts__) are context variables there,
which threads started by a module do not see (stop_servers stops servers in a pool).
"""

import salt.config
import salt.loader

from tests.common.fake_hub import CLASS, CULL, TOKEN
from tests.common.paths import REPO


def minion(hub, tmp_path):
    opts = salt.config.minion_config(None)
    opts.update(
        {
            "id": "hub",
            "file_client": "local",
            "cachedir": str(tmp_path / "cache"),
            "module_dirs": [str(REPO / "_modules")],
            "states_dirs": [str(REPO / "_states")],
            "beacons_dirs": [str(REPO / "_beacons")],
            "grains": {},
            "pillar": {"hub": {"api_tokens": {"salt": TOKEN}}, "cull": CULL},
            "jupyterhub.api_url": hub.url,
            "jupyterhub.cull_record": str(tmp_path / "last-cull.json"),
        }
    )
    utils = salt.loader.utils(opts)
    functions = salt.loader.minion_mods(opts, utils=utils, whitelist=["jupyterhub"])
    return opts, utils, functions


def test_cull_state_through_the_loader_stops_servers_from_threads(hub_factory, tmp_path):
    hub = hub_factory(CLASS)
    opts, utils, functions = minion(hub, tmp_path)
    states = salt.loader.states(opts, functions, utils, {}, whitelist=["jupyterhub"])
    ret = states["jupyterhub.idle_culled"]("cull")
    assert ret["result"] is True, ret["comment"]
    assert set(ret["changes"]) == {"alice", "dave"}
    assert functions["jupyterhub.last_cull"]()["results"] == {"alice": "stopped", "dave": "stopped"}


def test_idle_beacon_through_the_loader(hub_factory, tmp_path):
    hub = hub_factory(CLASS)
    opts, _, functions = minion(hub, tmp_path)
    beacons = salt.loader.beacons(opts, functions)
    assert beacons["jupyterhub_idle.validate"]([{"interval": 60}])[0]
    events = beacons["jupyterhub_idle.beacon"]([{"interval": 60}])
    assert events == [{"tag": "idle", "servers": ["alice", "dave"]}]
