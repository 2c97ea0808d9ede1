"""
The backup execution module (_modules/backup.py) without running duplicity, with its
_utils/backup_*.py as ``__utils__`` (tests/common/loaders.py), against the duplicity double
of tests/common/fake_duplicity.py (real duplicity 0.8.22 output, whose parsing
tests/unit/test_backup_duplicity.py tests); tests/functional/duplicity/ runs the real one.
"""
