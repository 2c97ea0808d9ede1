# The proxy: nginx terminates TLS and proxies to the hub.
{%- set proxy = pillar.proxy %}
include:
  - nginx.tls
{%- if proxy.tls.source == 'acme' %}
  - nginx.acme
{%- endif %}

nginx:
  pkg.installed: []
  service.running:
    - enable: true
    - reload: true
    - watch:
      - file: nginx-site
      - file: nginx-default-site
      - sls: nginx.tls

nginx-default-site:
  file.absent:
    - name: /etc/nginx/sites-enabled/default
    - require:
      - pkg: nginx

nginx-dhparam:
  file.managed:
    # RFC 7919 ffdhe2048 group, as Mozilla's guidelines recommend (no local generation).
    - name: /etc/nginx/ffdhe2048.pem
    - source: salt://nginx/files/ffdhe2048.pem
    - mode: '0644'
    - require:
      - pkg: nginx

nginx-cache-dir:
  file.directory:
    - name: /var/cache/nginx/jupyterhub
    - user: www-data
    - mode: '0700'
    - makedirs: true

nginx-site:
  file.managed:
    - name: /etc/nginx/sites-enabled/jupyterhub.conf
    - source: salt://nginx/files/jupyterhub.conf
    - template: jinja
    - mode: '0644'
    - require:
      - pkg: nginx
      - file: nginx-dhparam
      - file: nginx-cache-dir
  cmd.run:
    # Refuse a broken configuration before the running nginx ever reloads it.
    - name: nginx -t
    - onchanges:
      - file: nginx-site
    - require_in:
      - service: nginx
