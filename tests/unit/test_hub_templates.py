"""
Our versions of JupyterHub's pages (jupyterhub_deploy/templates), rendered through the
loader JupyterHub builds from c.JupyterHub.template_paths: each still is JupyterHub's page,
with our part in it. What the page does in a browser is tested in the lab
(tests/e2e/test_browser.py).
"""

from types import SimpleNamespace

import pytest
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, PrefixLoader
from jupyterhub.app import JupyterHub
from jupyterhub_deploy.config import TEMPLATES, configure
from traitlets.config import Config

from tests.common.sites import minion_pillar
from tests.common.sls_render import settings_for


@pytest.fixture
def configured(tmp_path, monkeypatch):
    monkeypatch.setenv("JUPYTERHUB_DEPLOY_DASHBOARD_DIR", str(tmp_path / "dashboard"))
    return configure(Config(), settings_for(minion_pillar("example")))


@pytest.fixture
def env(configured):
    """Jinja as JupyterHub sets it up (JupyterHub.init_tornado_settings)."""
    c = configured
    base = JupyterHub()._template_paths_default()[0]
    paths = [*c.JupyterHub.template_paths, base]
    loader = ChoiceLoader(
        [PrefixLoader({"templates": FileSystemLoader([base])}, "/"), FileSystemLoader(paths)]
    )
    return Environment(loader=loader, autoescape=True)


def spawn_pending(env, server=""):
    user = SimpleNamespace(
        name="bob", escaped_name="bob", json_escaped_name='"bob"', admin=False,
        spawner=SimpleNamespace(options_form=None),
    )  # fmt: skip
    return env.get_template("spawn_pending.html").render(
        base_url="/hub/", user=user, spawner=SimpleNamespace(name=server),
        progress_url="/hub/api/users/bob/server/progress", static_url=lambda *a, **k: "/s",
        xsrf_token="", parsed_scopes=[],
    )  # fmt: skip


def test_the_hub_uses_our_templates_first(configured):
    assert configured.JupyterHub.template_paths == [TEMPLATES]


def test_spawn_pending_is_jupyterhub_s_page_with_the_stream_watched_before_it_opens(env):
    html = spawn_pending(env)
    # JupyterHub's own page and script are all there ...
    assert 'id="progress-message"' in html and 'new EventSource("/hub/api/users/bob' in html
    # ... and ours wraps EventSource before JupyterHub's script makes one.
    assert html.index("window.EventSource = Watched") < html.index("new EventSource(")
    assert 'var again = "/hub/spawn/bob";' in html


def test_a_named_server_is_asked_for_again_by_its_name(env):
    assert 'var again = "/hub/spawn/bob/gpu";' in spawn_pending(env, "gpu")
