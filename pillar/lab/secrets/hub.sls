# Lab-only secrets: the lab runs on loopback and these values protect nothing real.
hub:
  cookie_secret: 6c61622d6f6e6c792d636f6f6b69652d7365637265742d6e6f742d7265616c21
  proxy_auth_token: 6c61622d6f6e6c792d70726f78792d6170692d746f6b656e2d6e6f747265616c
  api_tokens:
    salt: lab-only-salt-api-token-0123456789abcdef
auth:
  google:
    client_secret: lab-only-client-secret
  # Used when a test switches auth:type to shared_password (tests/e2e/test_shared_password.py).
  shared_password:
    password: lab-only-workshop-password
    admin_password: lab-only-admin-password-0123456789abcdef
backup:
  passphrase: lab-only-backup-passphrase
