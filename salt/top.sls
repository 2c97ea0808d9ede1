# Roles come from the site pillar by minion id (nodegroups script/bootstrap writes), never
# from grains or pillar.
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
    - hub.proxy
    - stats
    - backup
    - dashboard
  nodes:
    - match: nodegroup
    - docker
    - swarm.worker
    - nfs.client
    - images.prepull
  backup_target:
    - match: nodegroup
    - backup.target
