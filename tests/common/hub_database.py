"""A hub database at an older JupyterHub's schema, made by JupyterHub's own ORM and moved
back by its own alembic migrations (tests of jupyterhub_deploy.database and jupyterhub_db)."""

# JupyterHub 5.5's last schema revision (its migrations end at manage_roles); 6.x adds four.
REVISION_OF_5_5 = "4621fec11365"


def downgrade(db, revision, workdir):
    from alembic import command
    from alembic.config import Config
    from jupyterhub import dbutil

    ini = workdir / "alembic.ini"
    dbutil.write_alembic_ini(str(ini), f"sqlite:///{db}")
    command.downgrade(Config(str(ini)), revision)
