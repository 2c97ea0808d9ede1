"""jupyterhub-deploy's JupyterHub extensions."""
