# Salt settings the hub minion needs, whatever the site.
mine_functions:
  # The swarm worker join token (swarm_worker_token), readable by the nodes' minion ids
  # only, comes from the jupyterhub_deploy ext_pillar, which knows the site's roles.
  # The hub's public ssh key for sftp backups, which the backup:target_host authorises
  # (salt/backup/target.sls). A public key: readable by any minion.
  backup_ssh_public_key:
    - mine_function: backup.ssh_public_key
  # The student image pinned to its digest, which the nodes pre-pull (salt/images/prepull.sls).
  student_image:
    - mine_function: jupyterhub.student_image

# saltext-dockermod compares a running container's networks with the state's. On the swarm
# overlay the engine records the address it assigned as IPAM config, which the state never
# asks for, so the default comparison recreated the hub container on every highstate.
docker.compare_container_networks:
  static: [Aliases, Links]
  automatic: []
