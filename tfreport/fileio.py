"""File access for every path a user may point at storage: local paths and URLs alike.

A path with a scheme (``gs://bucket/x``, ``s3://``, ``hdfs://``, TensorFlow's in-memory
``ram://``) goes through ``tf.io.gfile``; a plain local path goes through ``os``, ``shutil``
and the built-in ``open``, exactly as before, so local errors keep their errno (a full disk
is still "no space left on device"). Raw data, prepared data, model directories, TensorBoard
logs, exports and evaluation outputs all use these helpers; temporary folders and the
package's own files stay local.

TensorFlow's errors become the built-in ones (``FileNotFoundError``, ``PermissionError``,
``OSError``) naming the path, so callers catch one kind of error for every filesystem.
TensorFlow's ``ram://`` (the tests' stand-in for a bucket) matches names by prefix, appends
to a file written again and renames a folder without its files; the helpers work around
all three, so ram:// behaves as a bucket or a disk does.

Schemes: TensorFlow 2.21's Linux x86-64 wheel implements ``gs://`` (and ``ram://``) itself;
``pip install "tfreport[gcs]"`` adds the ``tensorflow-io-gcs-filesystem`` plugin for wheels
without it (or ``TF_USE_MODULAR_FILESYSTEM=1``); ``s3://`` and ``hdfs://`` left TensorFlow for
the tensorflow-io package, so they need a filesystem plugin matching the installed TF.
"""
from __future__ import annotations

import builtins
import contextlib
import errno
import gzip
import io
import os
import posixpath
import shutil
import tempfile
from typing import IO, Iterator, List, Sequence

__all__ = ["is_remote", "exists", "isdir", "isfile", "makedirs", "listdir", "glob", "open",
           "read_bytes", "read_text", "write_bytes", "replace", "remove", "rmtree", "copy",
           "getsize", "abspath", "local_copy"]


def is_remote(path: "str | os.PathLike") -> bool:
    """True for a URL (``scheme://...``), which goes through ``tf.io.gfile``."""
    return "://" in os.fspath(path)


def _gfile():
    import tensorflow as tf  # only when a URL is used: local work never imports TF here
    return tf.io.gfile


@contextlib.contextmanager
def _errors(path: str, dst: str = "") -> Iterator[None]:
    """TensorFlow's filesystem errors -> the built-in OSError kinds, naming ``path``."""
    import tensorflow as tf
    try:
        yield
    except tf.errors.NotFoundError:
        raise FileNotFoundError(errno.ENOENT, "No such file or directory", path) from None
    except tf.errors.PermissionDeniedError as e:
        raise PermissionError(errno.EACCES, f"Permission denied ({_first_line(e)})",
                              path) from None
    except tf.errors.AlreadyExistsError:
        raise FileExistsError(errno.EEXIST, "File exists", dst or path) from None
    except tf.errors.UnimplementedError as e:  # a scheme this TensorFlow does not have
        hint = ('pip install "tfreport[gcs]" (tensorflow-io-gcs-filesystem)'
                if path.startswith("gs://") else
                "this TensorFlow reads local paths, gs:// and ram://; other schemes need a "
                "filesystem plugin for it (s3:// and hdfs:// moved to tensorflow-io)")
        raise OSError(errno.EPROTONOSUPPORT, f"{_first_line(e)}; {hint}", path) from None
    except tf.errors.OpError as e:
        raise OSError(errno.EIO, _first_line(e), path) from None


def _first_line(e) -> str:
    return (getattr(e, "message", "") or str(e) or type(e).__name__).splitlines()[0]


def _parent(path: str) -> str:
    """The folder above ``path``; ``scheme://`` itself above a top-level name."""
    parent = posixpath.dirname(path.rstrip("/"))
    return parent + "//" if parent.endswith(":") else parent


def _ram(path: str) -> bool:
    return path.startswith("ram://")


def _ram_stat(path: str) -> bool:
    """Whether ram:// finds anything at ``path`` or under it (its prefix match)."""
    try:
        _gfile().stat(path)
        return True
    except Exception:  # noqa: BLE001  NotFound, and the odd path RamFileSystem rejects
        return False


def _ram_truncate(path: str) -> None:
    """ram:// appends to a file opened for writing (or copied over) instead of replacing
    it; remove the old one first, as a bucket or a disk would replace it."""
    if _ram(path) and _ram_stat(path) and not _gfile().stat(path).is_directory:
        _gfile().remove(path)


def _ram_exists(path: str) -> bool:
    """``ram://`` matches by prefix (``ram://d/best`` "exists" when ``ram://d/best.keras``
    does; TF's RamFileSystem::Stat), so a directory answer is confirmed exactly."""
    g = _gfile()
    try:
        if not g.stat(path).is_directory:
            return True  # a file matches only exactly
    except Exception:  # noqa: BLE001  NotFound, and the odd path RamFileSystem rejects
        return False
    path = path.rstrip("/")
    parent, name = _parent(path), posixpath.basename(path)
    if path.endswith(":"):  # ram:// itself
        return True
    try:
        if name in {n.rstrip("/") for n in g.listdir(parent)}:
            return True
    except Exception:  # noqa: BLE001
        pass
    return bool(g.glob(path + "/*"))  # a folder implied by the files in it


def exists(path: str) -> bool:
    """Whether a file or folder exists at ``path``."""
    path = os.fspath(path)
    if not is_remote(path):
        return os.path.exists(path)
    if _ram(path):
        return _ram_exists(path)
    with _errors(path):
        return _gfile().exists(path)


def isdir(path: str) -> bool:
    """Whether ``path`` is a folder (on an object store: a prefix holding objects)."""
    path = os.fspath(path)
    if not is_remote(path):
        return os.path.isdir(path)
    if _ram(path) and not _ram_exists(path):
        return False
    with _errors(path):
        return _gfile().isdir(path)


def isfile(path: str) -> bool:
    """Whether ``path`` is an existing file."""
    return exists(path) and not isdir(path)


def getsize(path: str) -> int:
    """The size of a file in bytes."""
    path = os.fspath(path)
    if not is_remote(path):
        return os.path.getsize(path)
    if not exists(path):
        raise FileNotFoundError(errno.ENOENT, "No such file or directory", path)
    with _errors(path):
        return int(_gfile().stat(path).length)


def makedirs(path: str) -> None:
    """Creates ``path`` and its parents; an existing folder is fine."""
    path = os.fspath(path)
    if not is_remote(path):
        os.makedirs(path, exist_ok=True)
        return
    with _errors(path):
        _gfile().makedirs(path)


def listdir(path: str) -> List[str]:
    """The names in a folder (no trailing slashes), in the filesystem's order."""
    path = os.fspath(path)
    if not is_remote(path):
        return os.listdir(path)
    if not isdir(path):
        raise FileNotFoundError(errno.ENOENT, "No such file or directory", path)
    with _errors(path):
        names = [n.rstrip("/") for n in _gfile().listdir(path)]
    if _ram(path):  # ram:// also lists what follows its prefix in sibling names ("resume"
        # beside "resume.tmp" lists ".tmp"); a real child has a path of its own
        names = [n for n in names if _ram_stat(posixpath.join(path, n))]
    return names


def glob(pattern: str) -> List[str]:
    """Sorted paths matching ``pattern`` (``*``, ``?``, ``[...]``; no ``**``)."""
    pattern = os.fspath(pattern)
    if not is_remote(pattern):
        import glob as _glob
        return sorted(_glob.glob(pattern))
    with _errors(pattern):
        return sorted(_gfile().glob(pattern))


class _GFileRaw(io.RawIOBase):
    """A ``tf.io.gfile.GFile`` as a standard raw stream, so ``io.TextIOWrapper``,
    ``gzip``, ``csv``, ``zipfile``, PIL and NumPy take it like any file."""

    def __init__(self, path: str, mode: str):
        super().__init__()
        self.name = path
        self._mode = mode
        with _errors(path):
            self._f = _gfile().GFile(path, mode)

    def readable(self) -> bool:
        return "r" in self._mode

    def writable(self) -> bool:
        return "w" in self._mode or "a" in self._mode

    def seekable(self) -> bool:
        return self.readable()

    def readinto(self, buffer) -> int:
        with _errors(self.name):
            data = self._f.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)

    def write(self, data) -> int:
        with _errors(self.name):
            self._f.write(bytes(data))
        return len(data)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        with _errors(self.name):
            self._f.seek(offset, whence)
            return self._f.tell()

    def tell(self) -> int:
        with _errors(self.name):
            return self._f.tell()

    def close(self) -> None:
        if not self.closed:
            try:
                with _errors(self.name):
                    self._f.close()  # a remote write is committed here
            finally:
                super().close()


def open(path: str, mode: str = "r", encoding: "str | None" = None,  # noqa: A001
         errors: "str | None" = None, newline: "str | None" = None,
         gz: "bool | None" = None) -> IO:
    """Like the built-in ``open`` (modes r, w, a, with b or t). ``gz``: read and write
    through gzip (None: when the name ends in ``.gz``, as MIMIC's tables). Text defaults to
    UTF-8 on URLs. A remote write creates the folders above the file; the file appears when
    it is closed."""
    path = os.fspath(path)
    binary = "b" in mode
    raw_mode = mode.replace("b", "").replace("t", "")
    if raw_mode not in ("r", "w", "a"):
        raise ValueError(f"fileio.open: unsupported mode {mode!r}")
    gz = path.endswith(".gz") if gz is None else gz
    if not is_remote(path):
        if gz:
            return gzip.open(path, raw_mode + ("b" if binary else "t"), encoding=encoding,
                             errors=errors, newline=newline)
        return builtins.open(path, mode, encoding=encoding, errors=errors, newline=newline)
    if raw_mode == "r":
        if not exists(path):  # a GFile opens lazily; fail here, as open() does
            raise FileNotFoundError(errno.ENOENT, "No such file or directory", path)
        if isdir(path):
            raise IsADirectoryError(errno.EISDIR, "Is a directory", path)
    else:
        makedirs(_parent(path))
        if raw_mode == "w":
            _ram_truncate(path)
    raw = _GFileRaw(path, raw_mode + "b")
    stream: IO = io.BufferedReader(raw) if raw_mode == "r" else io.BufferedWriter(raw)
    if gz:
        zipped = gzip.GzipFile(fileobj=stream, mode=raw_mode + "b")
        zipped.myfileobj = stream  # closing the gzip stream closes the file under it
        stream = zipped
    if binary:
        return stream
    return io.TextIOWrapper(stream, encoding=encoding or "utf-8", errors=errors,
                            newline=newline)


def read_bytes(path: str) -> bytes:
    """The whole file as bytes, exactly as stored (a ``.gz`` file is not unpacked)."""
    with open(path, "rb", gz=False) as f:
        return f.read()


def read_text(path: str, encoding: str = "utf-8") -> str:
    """The whole file as text."""
    with open(path, "r", encoding=encoding) as f:
        return f.read()


def write_bytes(path: str, data: bytes) -> None:
    """Writes ``data`` to ``path`` as given (not atomically: see ``tfreport.atomic``)."""
    with open(path, "wb", gz=False) as f:
        f.write(data)


def remove(path: str) -> None:
    """Removes a file."""
    path = os.fspath(path)
    if not is_remote(path):
        os.remove(path)
        return
    with _errors(path):
        _gfile().remove(path)


def rmtree(path: str, ignore_errors: bool = False) -> None:
    """Removes a folder and everything in it."""
    path = os.fspath(path)
    if not is_remote(path):
        shutil.rmtree(path, ignore_errors=ignore_errors)
        return
    try:
        if ignore_errors and not exists(path):
            return
        with _errors(path):
            try:
                _gfile().rmtree(path)
            except Exception:  # noqa: BLE001
                # ram:// deletes the folder, then fails on a sibling sharing its prefix
                # ("out" beside "out.partial"): done if the folder is gone
                if not (_ram(path) and not exists(path)):
                    raise
    except OSError:
        if not ignore_errors:
            raise


def _files_under(path: str) -> List[str]:
    """Every file below a remote folder, as paths relative to it."""
    out = []
    for name in listdir(path):
        child = posixpath.join(path, name)
        if isdir(child):
            out.extend(posixpath.join(name, f) for f in _files_under(child))
        else:
            out.append(name)
    return out


def replace(src: str, dst: str, last: Sequence[str] = ()) -> None:
    """Renames ``src`` to ``dst``, replacing a file there (``os.replace``). Local renames are
    atomic. On an object store a rename is a copy and a delete (a folder, file by file):
    writers still never leave a half-written file under the final name, and the files named
    in ``last`` (relative to the folder; e.g. the ``summary.json`` that marks a build
    complete) are moved after all the others."""
    src, dst = os.fspath(src), os.fspath(dst)
    if not is_remote(src) and not is_remote(dst):
        os.replace(src, dst)
        return
    if not exists(src):
        raise FileNotFoundError(errno.ENOENT, "No such file or directory", src)
    g = _gfile()
    if isdir(src):
        files = _files_under(src)
        files = [f for f in files if f not in last] + [f for f in last if f in files]
        for rel in files:
            makedirs(_parent(posixpath.join(dst, rel)))
            with _errors(posixpath.join(src, rel), posixpath.join(dst, rel)):
                g.rename(posixpath.join(src, rel), posixpath.join(dst, rel), overwrite=True)
        makedirs(dst)  # an empty source folder still leaves a folder
        rmtree(src)
        return
    makedirs(_parent(dst))
    with _errors(src, dst):
        g.rename(src, dst, overwrite=True)


def copy(src: str, dst: str) -> None:
    """Copies a file's contents to ``dst`` (replacing it), between any two filesystems."""
    src, dst = os.fspath(src), os.fspath(dst)
    if not is_remote(src) and not is_remote(dst):
        shutil.copyfile(src, dst)
        return
    if not exists(src):
        raise FileNotFoundError(errno.ENOENT, "No such file or directory", src)
    if is_remote(dst):
        makedirs(_parent(dst))
        _ram_truncate(dst)
    with _errors(src, dst):
        _gfile().copy(src, dst, overwrite=True)


def abspath(path: str) -> str:
    """``os.path.abspath`` for a local path; a URL is already absolute."""
    path = os.fspath(path)
    return path if is_remote(path) else os.path.abspath(path)


@contextlib.contextmanager
def local_copy(path: str) -> Iterator[str]:
    """A local path holding the file at ``path``: the path itself when it is local, else a
    temporary copy (removed afterwards), for readers that only take local files (zipfile's
    rewrite, h5py)."""
    path = os.fspath(path)
    if not is_remote(path):
        yield path
        return
    folder = tempfile.mkdtemp(prefix="tfreport-")
    try:
        local = os.path.join(folder, posixpath.basename(path.rstrip("/")))
        copy(path, local)
        yield local
    finally:
        shutil.rmtree(folder, ignore_errors=True)
