# Python: _modules/swarm.py, _states/swarm.py.
# A node: join the hub's swarm as a worker (token from the hub's mine entry).
include:
  - docker
  - swarm.containment

swarm-worker:
  swarm.worker:
    - manager_id: {{ pillar.roles.hub }}
    - advertise_addr: {{ pillar.hosts[opts.id] }}
    # The hub may still be initialising the swarm in the same highstate run.
    - retry:
        attempts: 12
        interval: 10
    - require:
      - sls: docker

# A node that was lost and came back keeps its old servers' stopped containers: swarm's
# manager forgot their tasks meanwhile and never removes them.
swarm-dead-servers-absent:
  swarm.dead_servers_absent:
    - require:
      - swarm: swarm-worker
