# Python: the hub/ package (jupyterhub_deploy); its image is built by images/build.sls.
# JupyterHub on the hub: its settings (from the pillar, secrets included), its data
# directory and the `jupyterhub` container, on the swarm's overlay network, spawning each
# student's server as a swarm service (jupyterhub_deploy.spawner) and asking restuser for
# system users over /run/restuser. `docker logs jupyterhub` shows its log. Its proxy runs
# in a container of its own (hub/proxy.sls).
{%- set hub = pillar.hub %}
include:
  - images.build
  - swarm.manager
  - restuser

# Only the hub and its proxy join this network: the proxy's API listens there, where no
# student's server (on the overlay) can reach it. Not `internal`: Docker 20.10 then
# published neither container's ports (no gateway network); Docker keeps other
# containers off a bridge they are not on.
hub-proxy-api-network:
  docker_network.present:
    - name: jupyterhub-proxy-api
    - driver: bridge
    - ipam_pools:
      - subnet: {{ hub.proxy_api_subnet }}
        # Named: Docker adds it to the network's config at its next start, and the
        # state would then make the network again (dropping both containers' links).
        gateway: {{ hub.proxy_api_gateway }}

hub-data-dir:
  file.directory:
    - name: {{ hub.data_dir }}
    # The database and the settings (cookie secret, OAuth secret, tokens) live here:
    # root only. (JupyterHub creates its database after its first start, so a mode kept on
    # that file would change on the second highstate.)
    - mode: '0700'
    - user: root
    - group: root
    - makedirs: true

# What jupyterhub_config.py reads (jupyterhub_deploy.config computes the rest).
hub-settings:
  file.serialize:
    - name: {{ hub.data_dir }}/settings.json
    - serializer: json
    - mode: '0600'
    - user: root
    - group: root
    # Holds the cookie secret, OAuth secret and API tokens: never print a diff.
    - show_changes: false
    - require:
      - file: hub-data-dir
    - dataset:
{%- for section in ['hosts', 'roles', 'hub', 'auth', 'spawner', 'users', 'swarm', 'registry',
                    'proxy', 'nfs', 'images', 'dashboard'] %}
        {{ section }}: {{ pillar[section] | json }}
{%- endfor %}

# A JupyterHub release with a newer schema (hub:jupyterhub_version): the hub stopped, the
# database copied to <db>.<old version>.<time> and migrated by the new image before the hub
# is recreated; a failed migration puts the copy back and starts the old hub again.
hub-database-migrated:
  jupyterhub_db.migrated:
    - name: {{ hub.data_dir }}/jupyterhub.sqlite
    - image: {{ pillar.images.names.hub }}
    - container: jupyterhub
    - require:
      - cmd: image-hub
      - file: hub-data-dir

jupyterhub:
  docker_container.running:
    - image: {{ pillar.images.names.hub }}
    # Survives dockerd and host restarts; student servers survive the hub's (jupyterhub#1156).
    - restart_policy: unless-stopped
    - binds:
      - {{ hub.data_dir }}:/srv/jupyterhub:rw
      - /var/run/docker.sock:/var/run/docker.sock:rw
      # restuser's socket directory (kept across restuser restarts by its unit).
      - /run/restuser:/run/restuser:rw
    # Its API for salt, on loopback only (nginx reaches the proxy: hub/proxy.sls).
    - port_bindings:
      - 127.0.0.1:{{ hub.api_port }}:8081
    # Its own address on the overlay, where servers reach its API (not a name, which any
    # container could take: issue #18); and the proxy's API network.
    - networks:
      - {{ pillar.swarm.network }}:
        - ipv4_address: {{ pillar.swarm.hub_overlay_address }}
      - jupyterhub-proxy-api:
        - ipv4_address: {{ hub.proxy_api_hub_address }}
    # After a host restart dockerd re-attaches the running container to the overlay a
    # little later; dockermod's network comparison crashes in that window: try again.
    - retry:
        attempts: 3
        interval: 15
    # The overlay network comes from swarm.manager in the same run; a test=True run on a
    # fresh hub would otherwise fail here on "network not present". Only in test mode:
    # salt 3008 loads every state module for a run's first onlyif/unless (0.7 s).
{%- if opts.get('test') %}
    - onlyif: docker network inspect {{ pillar.swarm.network }} jupyterhub-proxy-api
{%- endif %}
    - require:
      - cmd: image-hub
      - jupyterhub_db: hub-database-migrated
      - sls: swarm.manager
      - sls: restuser
      - docker_network: hub-proxy-api-network
    - watch:
      - file: hub-settings
      # A new digest of the student image (recorded by imagectl): the config pins it.
      - cmd: image-singleuser

# The nodes pre-pull the digest the hub spawns from the mine (salt/images/prepull.sls).
hub-student-image-mine:
  module.run:
    - mine.update: []
    - onchanges:
      - cmd: image-singleuser
