"""Helpers of the docs-site check: serve site/, drive headless Chromium, read its PNGs.

Chromium is Debian's package (``nox -s docs`` installs it with apt-get when missing); the
site is served over HTTP on 127.0.0.1 (port 0) so the pages load their assets the way a
browser does from a web server, and every request is recorded with its status.
"""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import struct
import subprocess
import tempfile
import threading
import zlib
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

WIDTH, HEIGHT = 1280, 900


def chromium() -> str:
    found = os.environ.get("SOCKETIFY_CHROMIUM") or shutil.which("chromium")
    if not found:
        raise RuntimeError("chromium is not installed: run `nox -s docs` (it installs it)")
    return found


class Served:
    """A static HTTP server over one folder that remembers every request's status."""

    def __init__(self, root: Path) -> None:
        self.requests: list[tuple[str, int]] = []
        seen = self.requests

        class Handler(http.server.SimpleHTTPRequestHandler):
            def log_request(self, code: Any = "-", size: Any = "-") -> None:
                seen.append((self.path, int(code)))

            def log_message(self, format: str, *args: Any) -> None:
                pass

        handler = functools.partial(Handler, directory=str(root))
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/{path}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


def _browser(*args: str) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run(
            [
                chromium(),
                "--headless",
                "--no-sandbox",  # CI runs as root, where Chromium's sandbox refuses to start
                "--disable-gpu",
                "--hide-scrollbars",
                "--no-first-run",
                f"--user-data-dir={profile}",
                f"--window-size={WIDTH},{HEIGHT}",
                "--virtual-time-budget=3000",  # let the theme's scripts run before capture
                *args,
            ],
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )


def screenshot(url: str, out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.unlink(missing_ok=True)
    done = _browser(f"--screenshot={out}", url)
    if done.returncode != 0 or not out.exists():
        raise RuntimeError(
            f"chromium did not capture {url} (exit {done.returncode}):\n{done.stderr}"
        )
    return out


def rendered_dom(url: str) -> str:
    """The page's DOM after Chromium loaded it and ran its scripts."""
    done = _browser("--dump-dom", url)
    if done.returncode != 0:
        raise RuntimeError(
            f"chromium could not load {url} (exit {done.returncode}):\n{done.stderr}"
        )
    return done.stdout


def read_png(path: Path) -> tuple[int, int, list[bytes]]:
    """Width, height and rows of RGB(A) pixels of an 8-bit, non-interlaced PNG."""
    data = path.read_bytes()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError(f"{path} is not a PNG")
    pos, idat, header = 8, b"", b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat += body
    width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", header)
    if depth != 8 or color not in (2, 6) or interlace:
        raise ValueError(f"{path}: unsupported PNG (depth {depth}, color type {color})")
    bpp = 3 if color == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * bpp
    rows: list[bytes] = []
    previous = bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        kind_byte = raw[start]
        line = bytearray(raw[start + 1 : start + 1 + stride])
        for i in range(stride):
            left = line[i - bpp] if i >= bpp else 0
            up = previous[i]
            corner = previous[i - bpp] if i >= bpp else 0
            if kind_byte == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind_byte == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind_byte == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind_byte == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                pred = left if pa <= pb and pa <= pc else (up if pb <= pc else corner)
                line[i] = (line[i] + pred) & 0xFF
        rows.append(bytes(line))
        previous = line
    if bpp == 4:  # drop alpha: the checks compare colours
        rows = [bytes(b for i, b in enumerate(row) if i % 4 != 3) for row in rows]
    return width, height, rows


def pixels(rows: list[bytes], top: int, bottom: int) -> Iterator[tuple[int, int, int]]:
    for row in rows[top:bottom]:
        for i in range(0, len(row), 3):
            yield row[i], row[i + 1], row[i + 2]


def rendering_problems(path: Path) -> list[str]:
    """Why a screenshot does not look like a page of the themed site (empty when it does).

    The theme's header is a coloured bar across the top; the page below it is mostly
    background with text in it. A blank capture, or a page whose stylesheet did not load
    (black text on white, no bar), fails.
    """
    width, height, rows = read_png(path)
    problems = []
    if (width, height) != (WIDTH, HEIGHT):
        problems.append(f"size {width}x{height}, expected {WIDTH}x{HEIGHT}")
    header = Counter(pixels(rows, 4, 40)).most_common(1)[0][0]
    body_colours = Counter(pixels(rows, 60, height))
    body = body_colours.most_common(1)[0][0]
    if header == body:
        problems.append(f"no header bar: the top band has the page's colour {body}")
    if len(body_colours) < 50:
        problems.append(f"only {len(body_colours)} colours below the header: no text rendered")
    return problems
