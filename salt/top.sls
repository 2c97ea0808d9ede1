# Roles come from the site pillar by minion id (master.d/nodegroups.conf), never from grains.
base:
  '*':
    - common
    - users
  proxy:
    - match: nodegroup
    - nginx
  hub:
    - match: nodegroup
    - docker
    - swarm.manager
    - registry
    - nfs.server
    - restuser
    - hub
    - stats
    - backup
    - dashboard
  nodes:
    - match: nodegroup
    - docker
    - swarm.worker
    - nfs.client
    - hub.prepull
  backup_target:
    - match: nodegroup
    - backup.target
