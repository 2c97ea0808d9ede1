# The idle beacon fired: cull on the hub. The event's own data is not used (any minion
# could have sent it); jupyterhub.cull asks the hub which servers are idle. The function,
# not state.apply: a flood of forged events never holds the state lock an admin's
# state.apply needs, and `coalesce` runs one cull at a time, at most every 10 s.
cull-idle-servers:
  local.jupyterhub.cull:
    - tgt: hub
    - tgt_type: nodegroup
    - args:
      - coalesce: 10
