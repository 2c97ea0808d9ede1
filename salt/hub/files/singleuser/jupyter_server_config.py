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
