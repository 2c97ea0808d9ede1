# JupyterHub's configuration in the hub image. Every setting comes from the settings file
# salt renders from the site pillar (salt/hub/init.sls); the logic is in
# jupyterhub_deploy.config, which has unit tests.
import os

from jupyterhub_deploy.config import configure, load_settings

c = get_config()  # noqa: F821 (provided by JupyterHub when it loads this file)
configure(c, load_settings())

# Smoke tests of the image only (never set by salt): another authenticator, e.g. "dummy".
if os.environ.get("JUPYTERHUB_DEPLOY_TEST_AUTHENTICATOR"):
    c.JupyterHub.authenticator_class = os.environ["JUPYTERHUB_DEPLOY_TEST_AUTHENTICATOR"]
