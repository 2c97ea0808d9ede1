# The hub's proxy (configurable-http-proxy) in a container of its own, as Zero to
# JupyterHub's proxy pod: students' connections pass through it, so a hub restart, upgrade
# or settings change leaves them alone. nginx (the proxy host) reaches it on the hub's
# private address; its API is on the network only the hub shares (hub/init.sls).
{%- set hub = pillar.hub %}
{%- set hub_url = 'http://' ~ pillar.swarm.hub_overlay_address ~ ':8081' %}
include:
  - hub

hub-proxy-token:
  file.managed:
    - name: {{ hub.data_dir }}/proxy/auth_token
    - contents_pillar: hub:proxy_auth_token
    - makedirs: true
    # The proxy runs as nobody (its image); the directory stays root's.
    - user: 65534
    - group: 65534
    - mode: '0400'
    - show_changes: false
    - require:
      - file: hub-data-dir

jupyterhub-proxy:
  docker_container.running:
    - image: {{ pillar.images.names.proxy }}
    - restart_policy: unless-stopped
    - binds:
      - {{ hub.data_dir }}/proxy:/run/jupyterhub-proxy:ro
    - command: >-
        --ip 0.0.0.0 --port 8000
        --api-ip {{ hub.proxy_api_address }} --api-port 8001
        --default-target {{ hub_url }} --error-target {{ hub_url }}/hub/error
    # For nginx, on the hub's private address only.
    - port_bindings:
      - {{ pillar.hosts[pillar.roles.hub] }}:{{ hub.port }}:8000
    - networks:
      # Where the students' servers are (routes lead there).
      - {{ pillar.swarm.network }}
      - jupyterhub-proxy-api:
        - ipv4_address: {{ hub.proxy_api_address }}
{%- if opts.get('test') %}
    - onlyif: docker network inspect {{ pillar.swarm.network }} jupyterhub-proxy-api
{%- endif %}
    # After the hub's container: a hub of the layout before the proxy's move still holds
    # the port. The hub retries the proxy's API for 30 s while this starts.
    - require:
      - cmd: image-proxy
      - file: hub-proxy-token
      - docker_network: hub-proxy-api-network
      - docker_container: jupyterhub
    - watch:
      - file: hub-proxy-token

# A new proxy starts without routes: the hub adds them all when it starts (the proxy's own
# restart is the one event that drops students' connections).
hub-routes-restored:
  module.run:
    - docker.restart:
      - name: jupyterhub
    - onchanges:
      - docker_container: jupyterhub-proxy
