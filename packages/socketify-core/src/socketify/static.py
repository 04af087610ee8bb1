"""Files as responses: ``sendfile(res, req, path)`` and ``static(app, route, directory)``.

Theory of operation
-------------------
``sendfile`` reads the request headers it needs *before* its first ``await`` (the request
view dies with the callback), opens the file (``O_NONBLOCK``: a FIFO must not block the
loop) and keeps it only if ``fstat`` says it is a regular file.  Then ``plan()``, a pure
function of (request conditions, size, mtime), picks the answer in this order:

    1. ``If-None-Match`` present:  matches the ETag (weak comparison, or ``*``) -> 304
       else ``If-Modified-Since`` (only when there is no If-None-Match): not newer -> 304
    2. ``Range`` (ignored when ``If-Range`` names another validator, when malformed,
       when the unit is not ``bytes`` and when the file is empty):
         one range, satisfiable            -> 206 + ``Content-Range: bytes a-b/size``
         one range, none of it in the file -> 416 + ``Content-Range: bytes */size``
         several ranges                    -> 200 with the whole file (no multipart/byteranges)
    3. otherwise                                                                  -> 200

Every answer has ``Accept-Ranges: bytes``, ``ETag`` (``"<mtime_ns hex>-<size hex>"``:
changes whenever the size or the modification time does) and ``Last-Modified``.  HEAD gets
the same head with ``Content-Length`` and no body; the file is not read.  Bodies up to
``CHUNK`` go out in one ``end()`` (one write with the head); larger ones are handed to the
core (``res.send_fd``: a duplicate of the descriptor, which the core owns and closes): it
sends them with ``sendfile(2)`` on a plain socket and with pread + the TLS layer's write in
64 KiB pieces otherwise, with backpressure, so a file is never whole in memory and Python
is not entered per piece.  A client that leaves aborts the response and the core closes
its descriptor; ours is closed when ``sendfile`` returns.

``static`` maps ``route + "/*"`` to files under ``directory``.  The raw path (percent-encoding
kept) is split on ``/`` *before* decoding; a segment that is ``.``/``..``, contains ``/`` or
``\\`` once decoded (``%2f``, ``%5c``), or is not UTF-8 gives 404; a NUL (``%00``) gives 400.
The joined path is resolved (``realpath``) and must stay under the resolved root, so a
symlink pointing outside is 404 too.  A directory serves its ``index.html``.  Anything that
is not a regular file under the root is 404.  So is any name starting with a dot (``.env``,
``.git/config``, also when a symlink leads there) unless ``dotfiles=True``.
"""

from __future__ import annotations

import mimetypes
import os
import stat as stat_module
from datetime import datetime, timezone
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any, Callable, NamedTuple, Optional, Union, cast
from urllib.parse import unquote_to_bytes

__all__ = ["CHUNK", "Plan", "content_type", "etag_for", "plan", "sendfile", "static"]

CHUNK = 64 * 1024
_CHARSET_TYPES = (
    "text/",
    "application/javascript",
    "application/json",
    "application/xml",
    "image/svg+xml",
)
_ENCODED_TYPES = {
    "gzip": "application/gzip",
    "bzip2": "application/x-bzip2",
    "xz": "application/x-xz",
    "br": "application/x-brotli",
    "compress": "application/x-compress",
}
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
_HEAD_FLAG = 16  # SC_REQ_HEAD in the core's request flags


def content_type(path: str) -> str:
    """The Content-Type for ``path`` by extension; text types get ``charset=utf-8``."""
    guessed, encoding = mimetypes.guess_type(path, strict=False)
    if encoding is not None:
        return _ENCODED_TYPES.get(encoding, "application/octet-stream")
    if guessed is None:
        return "application/octet-stream"
    if guessed.startswith(_CHARSET_TYPES):
        return guessed + "; charset=utf-8"
    return guessed


def etag_for(size: int, mtime_ns: int) -> str:
    return f'"{mtime_ns:x}-{size:x}"'


def http_date(seconds: float) -> str:
    return format_datetime(datetime.fromtimestamp(int(seconds), timezone.utc), usegmt=True)


# ---- the pure decision -------------------------------------------------------------------
class Conditions(NamedTuple):
    """What the request asks, read before the first await."""

    method: str
    if_none_match: Optional[str] = None
    if_modified_since: Optional[str] = None
    range: Optional[str] = None
    if_range: Optional[str] = None


class Plan(NamedTuple):
    status: int
    start: int = 0  # first byte to send
    length: int = 0  # bytes to send (0 for 304/416)
    content_range: Optional[str] = None


def _etag_matches(header: str, etag: str) -> bool:
    if header.strip() == "*":
        return True
    ours = etag[2:] if etag.startswith("W/") else etag
    for candidate in header.split(","):
        candidate = candidate.strip()
        if candidate.startswith("W/"):
            candidate = candidate[2:]
        if candidate == ours:
            return True
    return False


def _not_modified_since(header: str, mtime: float) -> bool:
    try:
        since = parsedate_to_datetime(header)
    except (TypeError, ValueError, IndexError):
        return False  # an invalid date is ignored (RFC 9110 13.1.3)
    if since is None or since.tzinfo is None:
        return False
    return int(mtime) <= since.timestamp()


def parse_range(header: str, size: int) -> Union[tuple[int, int], str, None]:
    """One ``bytes=`` range as (start, end inclusive), ``"unsatisfiable"``, ``"multiple"``,
    or None when the header is to be ignored (malformed, other unit)."""
    unit, sep, spec = header.partition("=")
    if not sep or unit.strip().lower() != "bytes":
        return None
    ranges = [part.strip() for part in spec.split(",")]
    if len(ranges) > 1:
        if any(not part for part in ranges):
            return None
        return "multiple"
    first, dash, last = ranges[0].partition("-")
    first, last = first.strip(), last.strip()
    if not dash or not (first.isdigit() or first == "") or not (last.isdigit() or last == ""):
        return None
    if not first.isascii() or not last.isascii():
        return None
    if first == "":
        if last == "":
            return None
        suffix = _position(last)
        if suffix == 0:
            return "unsatisfiable"
        return (max(0, size - suffix), size - 1)
    start = _position(first)
    if last and _position(last) < start:
        return None  # invalid range-spec: the whole header is ignored
    if start >= size:
        return "unsatisfiable"
    end = min(_position(last), size - 1) if last else size - 1
    return (start, end)


def _position(digits: str) -> int:
    # Past 19 digits a position is beyond any file (and int() of thousands of digits is
    # refused by Python): it counts as "far past the end".
    return int(digits) if len(digits) <= 19 else 1 << 64


def plan(conditions: Conditions, size: int, mtime: float, etag: str, modified: str) -> Plan:
    """The status and byte span to send for these request conditions (see the module doc)."""
    if conditions.if_none_match is not None:
        if _etag_matches(conditions.if_none_match, etag):
            return Plan(304)
    elif conditions.if_modified_since is not None:
        if _not_modified_since(conditions.if_modified_since, mtime):
            return Plan(304)
    header = conditions.range
    if header is None or size == 0:
        return Plan(200, 0, size)
    if conditions.if_range is not None:
        validator = conditions.if_range.strip()
        if validator != etag and validator != modified:  # strong comparison only
            return Plan(200, 0, size)
    parsed = parse_range(header, size)
    if parsed is None or parsed == "multiple":
        return Plan(200, 0, size)
    if parsed == "unsatisfiable":
        return Plan(416, content_range=f"bytes */{size}")
    start, end = cast("tuple[int, int]", parsed)
    return Plan(206, start, end - start + 1, f"bytes {start}-{end}/{size}")


# ---- sending -----------------------------------------------------------------------------
def _conditions(req: Any) -> Conditions:
    get = req.get_header
    return Conditions(
        req.get_method().upper(),
        get("if-none-match"),
        get("if-modified-since"),
        get("range"),
        get("if-range"),
    )


def _open_regular(path: Union[str, os.PathLike[str]]) -> Optional[tuple[Any, os.stat_result]]:
    """(binary file, stat) when ``path`` is a regular file we can read, else None."""
    if "\x00" in os.fspath(path):
        return None
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except (OSError, ValueError):
        return None
    try:
        info = os.fstat(fd)
        if not stat_module.S_ISREG(info.st_mode):
            os.close(fd)
            return None
        return os.fdopen(fd, "rb", buffering=0), info
    except BaseException:
        os.close(fd)
        raise


def _not_found(res: Any) -> Any:
    return res.write_status(404).write_header("Content-Type", "text/plain").end("Not Found")


async def sendfile(res: Any, req: Any, path: Union[str, os.PathLike[str]]) -> Any:
    """Answer with the file at ``path`` (404 when it is not a readable regular file).

    Handles ``If-None-Match``/``If-Modified-Since`` (304), a single ``Range`` (206/416),
    HEAD, and streams large files with backpressure.  Use it as ``return sendfile(...)`` in
    a handler, ``await sendfile(...)`` or ``res.run_async(sendfile(...))``.
    """
    conditions = _conditions(req)
    is_head = conditions.method == "HEAD" or bool(getattr(res, "_reqflags", 0) & _HEAD_FLAG)
    opened = _open_regular(path)
    if opened is None:
        return _not_found(res)
    handle, info = opened
    with handle:
        size = info.st_size
        etag = etag_for(size, info.st_mtime_ns)
        modified = http_date(info.st_mtime)
        decision = plan(conditions, size, info.st_mtime, etag, modified)
        if decision.status != 416:
            res.write_status(decision.status)
        res.write_header("ETag", etag)
        res.write_header("Last-Modified", modified)
        res.write_header("Accept-Ranges", "bytes")
        if decision.status == 304:
            return res.end_without_body()
        if decision.status == 416:
            res.write_status(416).write_header("Content-Range", decision.content_range)
            return res.write_header("Content-Type", "text/plain").end("Range Not Satisfiable")
        res.write_header("Content-Type", content_type(os.fspath(path)))
        if decision.content_range is not None:
            res.write_header("Content-Range", decision.content_range)
        length = decision.length
        if is_head:
            res.write_header("Content-Length", length)
            return res.end_without_body()
        if length <= CHUNK:
            if decision.start:
                handle.seek(decision.start)
            return res.end(_read_exactly(handle, length))
        # PERF: the core sends it (sendfile(2) on a plain socket); Python waits once.
        await res.send_fd(os.dup(handle.fileno()), decision.start, length)
        return res


def _read_exactly(handle: Any, length: int) -> bytes:
    data = handle.read(length)
    if len(data) == length:
        return data
    parts = [data]
    got = len(data)
    while got < length:
        more = handle.read(length - got)
        if not more:
            break
        parts.append(more)
        got += len(more)
    return b"".join(parts)


# ---- static directories ------------------------------------------------------------------
class _Rejected(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


def _segments(raw: str) -> list[str]:
    """Decoded path segments of a raw URL path; _Rejected(404/400) for anything unsafe."""
    if "\\" in raw:
        raise _Rejected(404)
    names = []
    for segment in raw.split("/"):
        if not segment:
            continue
        try:
            name = unquote_to_bytes(segment).decode("utf-8")
        except UnicodeDecodeError:
            raise _Rejected(404) from None
        if "\x00" in name:
            raise _Rejected(400)
        if name in (".", "..") or "/" in name or "\\" in name:
            raise _Rejected(404)
        names.append(name)
    return names


def _inside(root: str, path: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def _hidden(names: Any) -> bool:
    return any(name.startswith(".") for name in names)


def resolve(root: str, relative_raw: str, dotfiles: bool = False) -> str:
    """The real path of a raw relative URL path under ``root`` (already a realpath);
    _Rejected(status) when it is unsafe, escapes the root or is a hidden name."""
    names = _segments(relative_raw)
    if not dotfiles and _hidden(names):
        raise _Rejected(404)
    path = os.path.realpath(os.path.join(root, *names))
    if os.path.isdir(path):
        path = os.path.realpath(os.path.join(path, "index.html"))
    elif relative_raw.endswith("/"):
        raise _Rejected(404)  # "file.txt/" is not a file
    if not _inside(root, path):
        raise _Rejected(404)
    if not dotfiles and _hidden(os.path.relpath(path, root).split(os.sep)):
        raise _Rejected(404)  # a symlink with a plain name leading to a hidden one
    return path


def static_handler(
    prefix: str, directory: Union[str, os.PathLike[str]], dotfiles: bool = False
) -> Callable[..., Any]:
    """A GET handler serving ``prefix + "/<path>"`` from ``directory``."""
    root = os.path.realpath(directory)
    if not os.path.isdir(root):
        raise NotADirectoryError(f"static directory does not exist: {os.fspath(directory)!r}")
    prefix = prefix.rstrip("/")

    def serve_static(res: Any, req: Any) -> Any:
        url = req.get_url()
        try:
            if "\x00" in url:
                raise _Rejected(400)
            path = resolve(root, url[len(prefix) :], dotfiles)
        except _Rejected as rejected:
            text = "Bad Request" if rejected.status == 400 else "Not Found"
            return (
                res.write_status(rejected.status)
                .write_header("Content-Type", "text/plain")
                .end(text)
            )
        return sendfile(res, req, path)

    serve_static.__name__ = "serve_static"
    return serve_static


def static(
    app: Any, route: str, directory: Union[str, os.PathLike[str]], dotfiles: bool = False
) -> Any:
    """Serve the files under ``directory`` at ``route`` (GET and HEAD); returns ``app``.
    Hidden names (a leading dot) are 404 unless ``dotfiles=True``."""
    prefix = route.rstrip("/")
    app.get(prefix + "/*", static_handler(prefix, directory, dotfiles))
    return app
