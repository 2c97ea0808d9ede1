{#- The site pillar (site.sls, secrets/) comes from /srv/jupyterhub-site, searched before
    this directory. Secrets are targeted by minion id from the site's own `roles`. -#}
{%- import_yaml 'site.sls' as site %}
{%- set roles = site.get('roles', {}) %}
base:
  '*':
    - site
{%- if roles.get('hub') %}
  '{{ roles.hub }}':
    - roles.hub
    - secrets.hub
{%- endif %}
{%- if roles.get('proxy') %}
{%-   if roles.proxy != roles.get('hub') %}
  '{{ roles.proxy }}':
{%-   endif %}
    - secrets.proxy
{%- endif %}
