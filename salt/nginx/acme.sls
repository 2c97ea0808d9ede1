# The proxy's certificate from an ACME server (proxy:tls:source acme): certbot issues it
# through a webroot nginx serves on port 80 and renews it by its own timer; its deploy hook
# installs each new one for nginx and reloads it. The logic: _modules/proxy_tls.py.
{%- set acme = pillar.proxy.tls.acme %}
{%- set dir = '/etc/letsencrypt/jupyterhub-deploy' %}
include:
  - nginx

certbot:
  pkg.installed: []

acme-webroot:
  file.directory:
    - name: /var/www/acme
    - mode: '0755'
    - makedirs: true

acme-deploy-hook:
  file.managed:
    - name: {{ dir }}/deploy-hook
    - source: salt://nginx/files/acme-deploy-hook
    - mode: '0755'
    - makedirs: true
{%- if acme.directory_ca %}

acme-directory-ca:
  file.managed:
    - name: {{ dir }}/directory-ca.pem
    - contents_pillar: proxy:tls:acme:directory_ca
    - mode: '0644'
    - makedirs: true

acme-renewals-trust-the-directory:
  # certbot keeps no CA setting in the lineage: its timer's renewals need it too.
  file.managed:
    - name: /etc/systemd/system/certbot.service.d/jupyterhub-deploy.conf
    - contents: |
        [Service]
        Environment=REQUESTS_CA_BUNDLE={{ dir }}/directory-ca.pem
    - makedirs: true
  cmd.run:
    - name: systemctl daemon-reload
    - onchanges:
      - file: acme-renewals-trust-the-directory
{%- endif %}
{%- if acme.challenge == 'dns-01' %}

acme-dns-plugin:
  pkg.installed:
    - name: python3-certbot-dns-rfc2136

acme-dns-credentials:
  # certbot's RFC 2136 plugin: the DNS server, the TSIG key allowed to write the
  # _acme-challenge TXT records, and its secret (secrets/proxy.sls).
  file.managed:
    - name: {{ dir }}/rfc2136.ini
    - mode: '0600'
    - makedirs: true
    - show_changes: false
    - contents: |
        dns_rfc2136_server = {{ acme.dns.server }}
        dns_rfc2136_port = {{ acme.dns.port }}
        dns_rfc2136_name = {{ acme.dns.key_name }}
        dns_rfc2136_secret = {{ acme.dns.key_secret }}
        dns_rfc2136_algorithm = {{ acme.dns.key_algorithm }}
    - require:
      - pkg: acme-dns-plugin
{%- endif %}

acme-certificate:
  proxy_tls.acme_certificate:
    - name: {{ pillar.proxy.server_name }}
    - extra_names: {{ acme.names | json }}
    - email: {{ acme.email }}
    - directory: {{ acme.directory }}
    - directory_ca: {{ ((dir ~ '/directory-ca.pem') if acme.directory_ca else none) | json }}
    - renew_days: {{ acme.renew_days }}
    - challenge: {{ acme.challenge }}
    - propagation_seconds: {{ acme.dns.propagation_seconds }}
    - require:
      - pkg: certbot
      - file: acme-webroot
      - file: acme-deploy-hook
      - service: nginx
{%- if acme.directory_ca %}
      - file: acme-directory-ca
{%- endif %}
{%- if acme.challenge == 'dns-01' %}
      - file: acme-dns-credentials
{%- endif %}
