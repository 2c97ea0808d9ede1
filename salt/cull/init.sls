# Python: _states/jupyterhub.py (idle_culled), _modules/jupyterhub.py, _beacons/jupyterhub_idle.py.
# Stop student servers idle longer than cull:timeout (or older than cull:max_age).
# Run by the reactor when the hub's idle beacon fires, or by hand:
#   salt-call state.apply cull [test=True]
cull-idle-servers:
  jupyterhub.idle_culled:
    - timeout: {{ pillar.cull.timeout }}
    - max_age: {{ pillar.cull.max_age }}
    - exempt_admins: {{ pillar.cull.exempt_admins }}
