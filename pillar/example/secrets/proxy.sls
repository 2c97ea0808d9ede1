# Secrets only the proxy receives: the private key of proxy:tls:certificate.
proxy:
  tls:
    key: |
      -----BEGIN PRIVATE KEY-----
      (your key)
      -----END PRIVATE KEY-----
