"""
Stand-ins for what JupyterHub hands the hub's spawner and authenticator: a quiet log, a
user (as dockerspawner's own tests fake one), and the student image a spawner is given.
JupyterHub itself is imported only when a user is made, after the test file has made the
hub's packages importable.
"""

import asyncio
import logging

# A plain logger: traitlets' default one keeps a stream pytest closes between tests.
LOG = logging.getLogger("jupyterhub_deploy.tests")
LOG.propagate = False
LOG.addHandler(logging.NullHandler())
IMAGE = "10.0.0.10:5000/jupyterhub-deploy/singleuser:current"


class FakeUser:
    def __init__(self, name):
        from jupyterhub.objects import Server

        self.name = name
        self.id = 7
        self.url = f"/user/{name}/"
        self.server = Server(base_url=self.url)


def start(spawner):
    """Run the spawner's start to its end: its (ip, port)."""
    return asyncio.run(spawner.start())
