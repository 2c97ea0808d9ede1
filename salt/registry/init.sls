# The image registry on the hub: images are built once here and pulled by the nodes. Two
# servers over one storage: pulls on the private address (read-only), pushes on loopback.
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

docker-registry-push:
  file.managed:
    - name: /etc/docker/registry/push.yml
    - source: salt://registry/files/push.yml
    - template: jinja
    - mode: '0644'
    - require:
      - pkg: docker-registry
  service.running:
    - enable: true
    - watch:
      - file: docker-registry-push
      - file: docker-registry-push-unit

docker-registry-push-unit:
  file.managed:
    - name: /etc/systemd/system/docker-registry-push.service
    - source: salt://registry/files/docker-registry-push.service
    - mode: '0644'
  module.run:
    - service.systemctl_reload: []
    - onchanges:
      - file: docker-registry-push-unit
    - require_in:
      - service: docker-registry-push
