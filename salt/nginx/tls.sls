# The proxy's TLS certificate: from pillar, a CA and certificate made here (self_signed), or
# until an ACME server issues one (nginx.acme), a throwaway one that lets nginx start.
{%- set tls = pillar.proxy.tls %}
nginx-tls-dir:
  file.directory:
    - name: /etc/nginx/tls
    - mode: '0750'
    - makedirs: true

{%- if tls.source == 'self_signed' %}
nginx-tls-ca-key:
  x509.private_key_managed:
    - name: /etc/nginx/tls/ca.key
    - algo: ec
    - mode: '0600'
    - require:
      - file: nginx-tls-dir

nginx-tls-ca:
  x509.certificate_managed:
    - name: /etc/nginx/tls/ca.crt
    - signing_private_key: /etc/nginx/tls/ca.key
    - CN: jupyterhub-deploy CA for {{ pillar.proxy.server_name }}
    - basicConstraints: critical, CA:true
    - keyUsage: critical, cRLSign, keyCertSign
    - subjectKeyIdentifier: hash
    - days_valid: 3650
    - mode: '0644'
    - require:
      - x509: nginx-tls-ca-key

nginx-tls-key:
  x509.private_key_managed:
    - name: /etc/nginx/tls/server.key
    - algo: ec
    - mode: '0600'
    - require:
      - file: nginx-tls-dir

nginx-tls-certificate:
  x509.certificate_managed:
    - name: /etc/nginx/tls/server.crt
    - signing_cert: /etc/nginx/tls/ca.crt
    - signing_private_key: /etc/nginx/tls/ca.key
    - private_key: /etc/nginx/tls/server.key
    - CN: {{ pillar.proxy.server_name }}
    - subjectAltName: DNS:{{ pillar.proxy.server_name }}
    - basicConstraints: critical, CA:false
    - keyUsage: critical, digitalSignature
    - extendedKeyUsage: serverAuth
    # Strict verifiers (RFC 5280 profile, e.g. Python's cryptography) require both.
    - subjectKeyIdentifier: hash
    - authorityKeyIdentifier: keyid:always
    # Mozilla's guidelines: at most 366 days; renewed 30 days before expiry.
    - days_valid: 365
    - days_remaining: 30
    - mode: '0644'
    - require:
      - x509: nginx-tls-ca
      - x509: nginx-tls-key
{%- elif tls.source == 'acme' %}
nginx-tls-bootstrap:
  cmd.run:
    # nginx must serve port 80 for the ACME server's challenge before any certificate is
    # issued: this one is replaced by certbot's deploy hook (nginx.acme).
    - name: >-
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30
        -subj "/CN={{ pillar.proxy.server_name }}" -keyout /etc/nginx/tls/server.key
        -out /etc/nginx/tls/server.crt
    - umask: '077'
    - creates: /etc/nginx/tls/server.crt
    - require:
      - file: nginx-tls-dir
{%- else %}
nginx-tls-key:
  file.managed:
    - name: /etc/nginx/tls/server.key
    - contents_pillar: proxy:tls:key
    - mode: '0600'
    - show_changes: false
    - require:
      - file: nginx-tls-dir

nginx-tls-certificate:
  file.managed:
    - name: /etc/nginx/tls/server.crt
    - contents_pillar: proxy:tls:certificate
    - mode: '0644'
    - require:
      - file: nginx-tls-dir
{%- endif %}
