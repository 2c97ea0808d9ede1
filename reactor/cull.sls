# The idle beacon fired: cull on the hub. The event's own data is not used (any minion
# could have sent it); the cull state asks the hub which servers are idle.
cull-idle-servers:
  local.state.apply:
    - tgt: hub
    - tgt_type: nodegroup
    - args:
      - mods: cull
