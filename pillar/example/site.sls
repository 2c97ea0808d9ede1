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
  # Private addresses or networks student servers may reach besides DNS, the internet and
  # the proxy's 80/443 (everything else private or link-local is dropped), e.g. a licence
  # server: [10.20.0.5, 10.30.0.0/24].
  containment_allow: []

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
  # Names never handed to a student, added to the built-in list (root, Debian's system
  # accounts and groups, our services: salt/users/defaults.yaml); a site can only add.
  reserved_names: []
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
    # pillar (certificate here, key in secrets/proxy.sls), acme (Let's Encrypt issues and
    # renews it: see acme below) or self_signed.
    source: pillar
    # PEM chain of the site certificate.
    certificate: |
      -----BEGIN CERTIFICATE-----
      (your certificate, then its intermediates)
      -----END CERTIFICATE-----
    # With source: acme. The proxy must answer on port 80 for server_name (HTTP-01).
    acme:
      # Let's Encrypt writes here before the certificate expires (required for acme).
      email: jupyterhub-staff@example.edu
      # Production by default. Try a new site on staging first (its rate limits are far
      # higher; browsers do not trust its certificates):
      # directory: https://acme-staging-v02.api.letsencrypt.org/directory
      # More names on the same certificate:
      # names: [jupyter.example.edu]
      # A wildcard (*.hub.example.edu) needs dns-01: the ACME server checks a TXT record
      # that certbot writes through your DNS server's RFC 2136 dynamic updates, signed with
      # a TSIG key (its secret in secrets/proxy.sls: proxy:tls:acme:dns:key_secret).
      # challenge: dns-01
      # dns:
      #   server: 10.0.0.53
      #   key_name: acme-key.

hub:
  # Port nginx reaches the hub on.
  port: 8000
  # Hub database and state on the hub host.
  data_dir: /srv/jupyterhub
  # Spawns in flight before the hub answers 429.
  concurrent_spawn_limit: 100
  # The hub API's port on the hub host's loopback (salt's client of it).
  api_port: 8081
  # How fresh each server's last-activity record is (culling reads it).
  activity_interval: 5m
  # JupyterHub's release (null: the one hub/requirements.txt pins). A security release is
  # this line and one state.apply (docs/operations.md: "Upgrading JupyterHub").
  jupyterhub_version: null

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
  # admins' password go in secrets/hub.sls (at least 8 and 32 characters). Anyone with the
  # password can log in as any name on the roster and so open that student's home: for a
  # one-day workshop, never for a graded class (docs/security.md).
  shared_password: {}

images:
  # Base image of the hub and student images (built on the hub): Debian 13, as the hosts;
  # debian:bookworm builds them on Debian 12 (Python 3.11; the same pins install on both).
  base: debian:trixie
  # CA files (or directories of *.crt) on the hub to trust in builds and images,
  # e.g. a TLS-intercepting proxy's CA.
  extra_ca_certs: []
  # Images are <hub address>:<registry:port>/<repository>/{hub,singleuser}:<tag>.
  repository: jupyterhub-deploy
  tag: current
  # The student image's tag (null: tag). To change the image during term give it a new tag
  # (week5): tags other than `tag` are never rebuilt, so setting the previous one back is
  # the rollback (README, "Operating it"). Start the term on a named one (week1): the moving
  # `tag` is rebuilt from the files as they are, so it is no rollback target.
  singleuser_tag: null

spawner:
  # Memory limit per student server.
  mem_limit: 1G
  # CPU limit in cores (null: none).
  cpu_limit: null
  # Most processes and threads per student server (null: none).
  pids_limit: 512
  # Servers starting at once (the rest wait their turn); null: the nodes' cores in all.
  concurrent_starts: null
  # How long a spawn may take (waiting for a turn included), and the server's first HTTP answer.
  start_timeout: 5m
  http_timeout: 2m
  # Mount the nbgrader exchange (nfs:exchange_dir) into every student server.
  nbgrader_exchange: true
  # Servers ignore the student's own ~/.jupyter config and server extensions (one web
  # origin for all: docs/security.md). Instructors keep nbgrader settings in the course
  # directory's nbgrader_config.py.
  disable_user_config: true

cull:
  # Stop idle servers: a beacon on the hub checks every `interval`, the master's reactor
  # then runs `state.apply cull` there (salt-call state.apply cull [test=True] by hand).
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
  # Record who is active: a salt schedule on the hub (salt-call stats.record by hand).
  enabled: true
  # How often; a user counts as active when they have a running server and activity within
  # the last interval. Keep it above 5m, how often servers report activity to the hub.
  interval: 10m
  # sqlite, table activity(date timestamp, user text, active bool), dates in UTC.
  db: /srv/stats/db/activity.sqlite
  # The plot `salt-run stats.report` (or stats.report on the hub) writes by default.
  report_png: /srv/stats/report.png

dashboard:
  # The staff dashboard at /services/dashboard/ (hub admins, and the staff below).
  enabled: true
  # How often salt writes what it shows (the page itself asks every 10 s).
  refresh: 1m
  # users:staff names who may look but not stop servers (admins may always look and stop).
  staff: []

backup:
  # Encrypted duplicity backups of /home, run by salt schedules on the hub: hourly
  # (a full one when the last full is older than full_every, else incremental), cleanup
  # daily, verify weekly. By hand: salt <hub> backup.run|status|verify|cleanup|restore;
  # salt-run backup.status exits non-zero when the last backup is stale or a job failed.
  enabled: true
  # The directory backed up.
  source: /home
  # Where backups go: `backup:target` (a duplicity URL, which may hold credentials) lives
  # in secrets/hub.sls, so only the hub gets it. Or a minion of `hosts` (not the hub) that
  # salt makes the sftp target: it gets an sftp-only account (target_user, home
  # target_dir) holding the hub's key, the hub trusts its host keys through the mine, and
  # the target is sftp://<target_user>@<its address>/<target_dir>/home. Apply the hub
  # before it.
  target_host: null
  target_user: jhd-backup
  target_dir: /srv/backup
  # Full backup every ...
  full_every: 7d
  # Full chains kept by cleanup.
  keep_full: 2
  # salt-run backup.status fails when the last good backup is older than this.
  stale_after: 3h
  # Root-only state on the hub: duplicity's cache, lock, last results, ssh key.
  work_dir: /var/lib/jupyterhub-deploy/backup
  # The passphrase goes in secrets/hub.sls. Changing it starts a new full chain; older
  # chains need the old passphrase to restore.
  # Or encrypt to a GPG key: gpg_key in secrets/hub.sls, an ASCII-armored key block
  # (gpg_key: |, then the block indented). With the secret key
  # (gpg --armor --export-secret-keys <fingerprint>) the hub backs up, verifies and
  # restores, and passphrase is that key's passphrase (or none). With the public key only
  # (gpg --armor --export <fingerprint>) the hub backs up but cannot read its backups:
  # verify and restore are refused; restore where the secret key is. It continues a chain
  # from duplicity's cache in work_dir: a hub that lost it needs the secret key once, or
  # a new target. A new key starts a new full chain.
