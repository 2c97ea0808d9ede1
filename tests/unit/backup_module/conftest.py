"""
Fixtures of the backup module's unit tests: a backup pillar (``cfg``), the duplicity
double (``fake``, answering as each captured duplicity version) and the module with it as
its duplicity call (``backup``).
"""

import pytest

from tests.common.backup_pillar import backup_pillar
from tests.common.duplicity_logs import VERSIONS
from tests.common.fake_duplicity import SECRET, TARGET, FakeDuplicity, module_for
from tests.common.salt_logs import salt_logs_to_pytest  # noqa: F401 (autouse)


@pytest.fixture
def cfg(tmp_path):
    home = tmp_path / "home"
    (home / "alice").mkdir(parents=True)
    return backup_pillar(home, TARGET, SECRET, tmp_path / "work")


@pytest.fixture(params=sorted(VERSIONS))
def fake(request):
    return FakeDuplicity(version=request.param)


@pytest.fixture
def backup(cfg, fake):
    module = module_for(cfg)
    module._execute = fake
    return module
