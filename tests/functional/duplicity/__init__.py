"""
The backup module (_modules/backup.py) with the real duplicity: Debian's package, run as an
external command under /usr/bin/python3, against file:// targets in pytest's tmp dirs. The
module and its _utils/backup_*.py are loaded by salt's own loader (utils_dirs and
__utils__), as a minion loads them after saltutil.sync_all, which one test does too.
"""
