# Salt settings the hub minion needs, whatever the site.
mine_functions:
  # The swarm worker join token, readable by the nodes only (salt/swarm/worker.sls).
  swarm_worker_token:
    - mine_function: swarm.join_token
    - allow_tgt: 'I@minion_roles:node'
    - allow_tgt_type: compound
