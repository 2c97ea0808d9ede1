# The image registry on the hub: images are built once here and pulled by the nodes.
docker-registry:
  pkg.installed: []
  file.managed:
    - name: /etc/docker/registry/config.yml
    - source: salt://registry/files/config.yml
    - template: jinja
    - mode: '0644'
    - require:
      - pkg: docker-registry
  service.running:
    - enable: true
    - watch:
      - file: docker-registry
