# System-wide nbgrader settings of every student's server (in /opt/jupyter/etc/jupyter).
c = get_config()  # noqa: F821 (provided by traitlets when loading this file)

# The shared exchange: the hub's exchange directory (NFS), mounted here by the spawner.
c.Exchange.root = "/srv/nbgrader/exchange"
