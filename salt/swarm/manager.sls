# Python: _modules/swarm.py, _states/swarm.py; drain and undrain in _runners/jupyterhub.py.
# The hub: swarm manager and the overlay network of the hub and the student servers.
include:
  - docker

swarm-manager:
  swarm.manager:
    - advertise_addr: {{ pillar.swarm.advertise_address or pillar.hosts[opts.id] }}
    - require:
      - sls: docker

swarm-network:
  swarm.network:
    - name: {{ pillar.swarm.network }}
    - subnet: {{ pillar.swarm.overlay_subnet }}
    - ip_range: {{ pillar.swarm.overlay_ip_range }}
    - require:
      - swarm: swarm-manager
