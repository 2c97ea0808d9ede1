# Secrets only the hub receives (pillar/top.sls targets this file at roles:hub).
# Keep this file out of version control; readable by root only.
hub:
  # openssl rand -hex 32
  cookie_secret: 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
  # The proxy's API token, also openssl rand -hex 32.
  proxy_auth_token: fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210
  # Tokens of our own services on the hub (salt's API client): openssl rand -hex 32
  api_tokens:
    salt: replace-with-openssl-rand-hex-32
auth:
  google:
    client_secret: replace-with-the-oauth-client-secret
backup:
  # Where backups go (duplicity URL: sftp://, file://, s3://, b2://id:key@...). Required
  # when backups are enabled, unless site.sls sets backup:target_host. Here, not in
  # site.sls: a URL may carry credentials, and site.sls reaches every minion. For an sftp
  # server that salt does not manage: authorise the key `salt <hub> backup.ssh_public_key`
  # prints there, and put its host key in <work_dir>/ssh/known_hosts on the hub.
  target: sftp://jhd-backup@backup.example.edu//srv/backup/home
  passphrase: replace-with-a-long-random-passphrase
  # Or, instead of (or with) the passphrase: encrypt to a GPG key. An armored secret key
  # (its passphrase in `passphrase`) lets the hub verify and restore; a public key alone
  # lets it back up only (restore where the secret key is).
  # gpg_key: |
  #   -----BEGIN PGP PUBLIC KEY BLOCK-----
  #   ...
  #   -----END PGP PUBLIC KEY BLOCK-----
