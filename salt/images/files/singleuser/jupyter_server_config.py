# System-wide settings of every student's Jupyter server (in /opt/jupyter/etc/jupyter).
# Homes are on NFS: keep every SQLite database off them, or it locks and hangs
# (nbformat#52, jupyter#174, notebook#1888, 2i2c#2245).
c = get_config()  # noqa: F821 (provided by traitlets when loading this file)

# Notebook trust signatures: in memory (trust is re-established per session).
c.NotebookNotary.db_file = ":memory:"
# jupyter_server_fileid (installed by some extensions): its index, in memory.
c.BaseFileIdManager.db_path = ":memory:"
c.ArbitraryFileIdManager.db_path = ":memory:"
c.LocalFileIdManager.db_path = ":memory:"

# A terminal is a login shell in the student's home.
c.ServerApp.terminado_settings = {"shell_command": ["/bin/bash", "-l"]}
# Deleted files go away instead of into a trash directory on the shared home.
c.FileContentsManager.delete_to_trash = False

# The server's client of the hub (jupyterhub.httpclient, aiohttp) caches DNS answers for
# 10 s: after the hub container was recreated (a new overlay address) a running server's
# OAuth calls went to the old address and timed out, so the student got a 500
# (tests/e2e/test_hub_restart.py). Docker's embedded DNS is local: no cache. The client is
# a singleton made without this config, so its default is what can be set.
from jupyterhub.httpclient import JupyterHubHTTPClient  # noqa: E402

JupyterHubHTTPClient.connector_options.default_value = {"use_dns_cache": False}

# Saves never damage the saved file when the disk (the NFS /home) is full: see
# jhd_safe_writing.py. Around the server's default contents manager.
from jhd_safe_writing import SafeWritingMixin  # noqa: E402
from jupyter_server.services.contents.largefilemanager import AsyncLargeFileManager  # noqa: E402

c.ServerApp.contents_manager_class = type(
    "SafeLargeFileManager", (SafeWritingMixin, AsyncLargeFileManager), {}
)
