# System-wide IPython settings of every kernel (in /opt/jupyter/etc/ipython).
c = get_config()  # noqa: F821 (provided by traitlets when loading this file)

# Command history in memory: its SQLite file would live on the NFS home and lock
# (nbformat#52, 2i2c#2245).
c.HistoryManager.hist_file = ":memory:"
