"""
A stand-in for salt's jinja renderer, enough of it for the hub's sls files (``render_sls``),
and what salt/hub/init.sls writes to the hub's settings.json (``settings_for``), with the
record imagectl would write beside it (``DIGEST``).
"""

import json

import jinja2
import yaml

from tests.common.paths import REPO

DIGEST = "sha256:" + "d" * 64


def render_sls(relpath, pillar, minion_id, mine=None):
    """Render an sls like salt's jinja renderer would (enough of it), then parse the YAML.
    ``mine``: ``{(minion, function): value}`` for ``salt['mine.get']``."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(REPO / "salt")),
        extensions=["jinja2.ext.do"],
        undefined=jinja2.StrictUndefined,
    )
    env.filters["json"] = json.dumps

    def mine_get(target, function):
        value = (mine or {}).get((target, function))
        return {} if value is None else {target: value}

    salt = {"mine.get": mine_get}
    text = env.get_template(relpath).render(pillar=pillar, opts={"id": minion_id}, salt=salt)
    return yaml.safe_load(text)


def settings_for(pillar):
    """What salt/hub/init.sls writes to settings.json."""
    states = render_sls("hub/init.sls", pillar, pillar["roles"]["hub"])
    serialize = dict(
        pair for item in states["hub-settings"]["file.serialize"] for pair in item.items()
    )
    settings = serialize["dataset"]
    # What load_settings adds from the record imagectl writes beside settings.json.
    name = settings["images"]["names"]["singleuser"]
    settings["images"]["recorded"] = {"image": name, "digest": DIGEST}
    return settings
