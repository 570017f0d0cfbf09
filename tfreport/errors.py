"""OS and data errors as one line that names the file and the problem.

Every entry point runs under ``cli.run_main``, which prints these messages instead of a
traceback. Outputs are checked here before long work starts, so an unwritable folder fails
in the first second, not after an hour of decoding.
"""
from __future__ import annotations

import errno
import os
import tempfile
import uuid
from typing import Iterable, Optional, Tuple

from tfreport import fileio


def os_error_message(e: OSError) -> str:
    """``[Errno 28] No space left on device`` -> "PATH: no space left on device (errno 28)";
    the path is named whenever the error carries one."""
    if e.strerror is None:  # raised by tfreport with its own message: already says it all
        return str(e)
    reason = e.strerror.rstrip(".")
    reason = reason[:1].lower() + reason[1:]
    where = e.filename or ""
    if e.filename2:
        where = f"{e.filename} -> {e.filename2}"
    hint = {errno.ENOSPC: "; free some space or write elsewhere",
            errno.EACCES: "; choose a folder you can write to",
            errno.EROFS: "; choose a folder you can write to"}.get(e.errno or 0, "")
    code = f" (errno {e.errno})" if e.errno else ""
    return f"{where}: {reason}{code}{hint}" if where else f"{reason}{code}{hint}"


def ensure_writable_dir(path: str, what: str = "output folder") -> None:
    """Creates ``path`` if needed and proves it takes a file; else one clear error. A URL
    (gs://, ram://) is probed the same way, by writing and removing a small file."""
    try:
        if fileio.is_remote(path):
            fileio.makedirs(path)
            probe = os.path.join(path, f".write_check{uuid.uuid4().hex[:12]}")
            fileio.write_bytes(probe, b"")
            fileio.remove(probe)
            return
        os.makedirs(path, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".write_check", dir=path)
        os.close(fd)
        os.remove(probe)
    except OSError as e:
        raise OSError(e.errno, f"cannot write the {what} ({e.strerror or e})",
                      path) from None


def ensure_writable_file(path: str, what: str = "output file") -> None:
    """The folder of ``path`` exists (created if needed) and takes files, and ``path`` itself
    is not a folder: checked before the work that produces it."""
    if fileio.isdir(path):
        raise IsADirectoryError(errno.EISDIR, f"the {what} is a folder", path)
    ensure_writable_dir(os.path.dirname(fileio.abspath(path)), f"folder of the {what}")


def find_bad_shard(files: Iterable[str]) -> Optional[Tuple[str, str]]:
    """(file, problem) of the first TFRecord shard that cannot be read to its end, or None.
    Read record by record, so it is only run after a read has failed."""
    import tensorflow as tf
    for path in files:
        if not fileio.exists(path):
            return path, "file not found"
        try:
            for _ in tf.data.TFRecordDataset(path):
                pass
        except (tf.errors.DataLossError, tf.errors.OutOfRangeError) as e:
            return path, f"truncated or corrupt TFRecord ({e.message.splitlines()[0]})"
    return None
