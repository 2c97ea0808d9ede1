# Example site pillar: copy this directory to /srv/jupyterhub-site and edit.
# Plain YAML (no Jinja): pillar/top.sls reads `roles` from it to target the secrets.
# Every key below is optional unless marked "required"; the value shown is the default
# (salt/<concern>/defaults.yaml). Durations: 90s, 10m, 24h, 7d. Sizes: 512M, 1G.

# Required. Every minion id of the site and its address on the private network.
hosts:
  proxy.example.edu: 10.0.0.2
  hub.example.edu: 10.0.0.10
  node1.example.edu: 10.0.0.11
  node2.example.edu: 10.0.0.12

# Required. Which minion ids play which role (one proxy, one hub, one or more nodes).
# One id may hold every role: a small class on one server.
roles:
  proxy: proxy.example.edu
  hub: hub.example.edu
  nodes:
    - node1.example.edu
    - node2.example.edu

common:
  # Debian packages on every host.
  packages: [ca-certificates, curl, git, htop, less, rsync, vim-tiny]
  # chrony keeps the clock; turn off where the clock belongs to someone else (containers).
  time_sync: true
  # NTP servers (empty: Debian's pool).
  ntp_servers: []

docker:
  # json-file log rotation of every container.
  log_max_size: 10m
  log_max_file: 3
  # Docker refuses live-restore on swarm members; must stay false here.
  live_restore: false

swarm:
  # Attachable overlay network of the hub and the student servers.
  network: jupyterhub
  # Address the manager advertises; null: the hub's address above.
  advertise_address: null

registry:
  # Port of the image registry on the hub (reached by the nodes).
  port: 5000

users:
  # Staff: system accounts on every host with fixed uids (outside the student range).
  # admin: hub admin. ssh_keys: public keys allowed to log in as this user.
  staff:
    ada:
      uid: 2001
      admin: true
      ssh_keys: []
  # Students allowed to log in (their Google usernames). restuser creates them.
  students:
    - alan
    - grace
  # uid range restuser allocates from.
  student_uid_min: 10000
  student_uid_max: 59999
  # Skeleton copied into new homes.
  skeldir: /srv/skeldir

nfs:
  # Serve /home from the hub over NFS to the nodes.
  enabled: true
  # NFSv4 pseudo-root on the hub.
  export_root: /export
  # Options of each export, per node.
  export_options: [rw, sync, no_subtree_check, root_squash]
  # Mount options on the nodes.
  mount_options: [hard, nfsvers=4.2, noatime]
  # idmapd domain (the same everywhere).
  idmap_domain: example.edu
  # nbgrader exchange, exported next to /home.
  exchange_dir: /srv/nbgrader/exchange

proxy:
  # Required in practice. Public name of the hub.
  server_name: hub.example.edu
  http_port: 80
  https_port: 443
  # HTTPS port browsers use, if port forwarding changes it (null: https_port).
  public_port: null
  # Largest upload.
  upload_max: 50m
  # HSTS max-age in seconds (0: off).
  hsts_max_age: 31536000
  # Read timeout of websockets.
  websocket_timeout: 24h
  tls:
    # pillar (certificate here, key in secrets/proxy.sls) or self_signed.
    source: pillar
    # PEM chain of the site certificate.
    certificate: |
      -----BEGIN CERTIFICATE-----
      (your certificate, then its intermediates)
      -----END CERTIFICATE-----

hub:
  # Port nginx reaches the hub on.
  port: 8000
  # Hub database and state on the hub host.
  data_dir: /srv/jupyterhub
  # Spawns in flight before the hub answers 429.
  concurrent_spawn_limit: 100

auth:
  # google or shared_password.
  type: google
  google:
    # Required for google: the OAuth client of the Google Cloud project.
    client_id: 1234-example.apps.googleusercontent.com
    # Google Workspace domain of the class.
    hosted_domain: example.edu
    # Google's endpoints (change only to test against a stand-in).
    authorize_url: https://accounts.google.com/o/oauth2/v2/auth
    token_url: https://oauth2.googleapis.com/token
    userdata_url: https://www.googleapis.com/oauth2/v1/userinfo
  # For auth:type shared_password (a workshop without Google): the password and the
  # admins' password go in secrets/hub.sls (at least 8 and 32 characters).
  shared_password: {}

images:
  # Base image of the hub and student images (built on the hub).
  base: debian:bookworm
  # CA files (or directories of *.crt) on the hub to trust in builds and images,
  # e.g. a TLS-intercepting proxy's CA.
  extra_ca_certs: []
  # Images are <hub address>:<registry:port>/<repository>/{hub,singleuser}:<tag>.
  repository: jupyterhub-deploy
  tag: current

spawner:
  # Memory limit per student server.
  mem_limit: 1G
  # CPU limit in cores (null: none).
  cpu_limit: null
  # How long a spawn may take, and the server's first HTTP answer.
  start_timeout: 5m
  http_timeout: 2m
  # Mount the nbgrader exchange (nfs:exchange_dir) into every student server.
  nbgrader_exchange: true

cull:
  # Stop idle servers.
  enabled: true
  # How often to check.
  interval: 1h
  # Idle time before a server is stopped.
  timeout: 24h
  # Stop any server older than this (0: never).
  max_age: 0
  # Never cull admins.
  exempt_admins: true

stats:
  # Record who is active.
  enabled: true
  interval: 10m
  db: /srv/stats/db/activity.sqlite

backup:
  # Hourly encrypted duplicity backups of /home.
  enabled: true
  # Required when enabled: where backups go.
  target: sftp://backup@backup.example.edu//srv/backups/jupyterhub
  # Full backup every ...
  full_every: 7d
  # Full chains kept.
  keep_full: 2
  # status fails when the last good backup is older than this.
  stale_after: 3h
