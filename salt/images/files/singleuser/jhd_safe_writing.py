"""
Saving a file so that a full disk never damages what was saved before.

jupyter_server's atomic_writing truncates the file in place and restores a backup copy only
when the write itself fails: when the disk fills at the final flush (any save under 8 KiB),
the file is left empty and the error escapes; when a new file's write fails, restoring the
backup that never existed raises "No such file or directory" in place of "No space left
on device" (seen in the lab, tests/e2e/test_disk_full.py). Here the new contents go to a
temporary file beside the target, which replaces it only once it is all on disk.
"""

import contextlib
import os
import shutil
import tempfile


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def replace_when_written(path, text=True, encoding="utf-8", **kwargs):
    """A file object whose contents replace ``path`` when the block ends without error.

    On any error (ENOSPC included) the temporary file is removed and ``path`` is as it was.
    A symlink's target is written, as jupyter_server does; the file keeps its mode.
    """
    if os.path.islink(path):
        path = os.path.join(os.path.dirname(path), os.readlink(path))
    directory = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".~", suffix=".saving")
    try:
        if text:
            kwargs.setdefault("newline", "\n")
            handle = os.fdopen(fd, "w", encoding=encoding, **kwargs)
        else:
            handle = os.fdopen(fd, "wb", **kwargs)
        with handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        if os.path.exists(path):
            shutil.copymode(path, tmp)
        else:
            os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


class SafeWritingMixin:
    """For a jupyter_server FileContentsManager: every save through replace_when_written."""

    @contextlib.contextmanager
    def atomic_writing(self, os_path, *args, **kwargs):
        with self.perm_to_403(os_path), replace_when_written(os_path, *args, **kwargs) as f:
            yield f
