"""
restuser for real: the service under Debian's python3 in the sandbox of
tests/common/restuser_sandbox.py, creating users with the real useradd, talked to through
the execution module and raw sockets. The sandboxed service is the ``hub`` fixture of
conftest.py, shared by the tests of this folder.
"""
