"""
salt/images/files/imagectl.py: idempotent image build, push, pull and prune for salt's cmd.run.

Docker and the registry are fakes (tests/common/fake_docker_cli.py): the tests check what is
run when, and the stateful line salt reads. registry_digest itself is tested against a
stand-in registry on loopback.
"""
