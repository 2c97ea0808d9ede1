# imagectl.py, which builds, pushes, pulls and prunes our images for salt's cmd.run, with the
# system python3 (build.sls on the hub, prepull.sls on the nodes; one id on a single host).
{%- from 'images/imagectl.jinja' import imagectl %}

imagectl-python:
  pkg.installed:
    - name: python3

imagectl:
  file.managed:
    - name: {{ imagectl }}
    - source: salt://images/files/imagectl.py
    - makedirs: true
    - mode: '0755'
    - require:
      - pkg: imagectl-python
