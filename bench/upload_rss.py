"""Server memory while a large multipart upload streams through ``parse_form``.

    python bench/upload_rss.py [--size-mib 1024] [--timeout 300]

Starts a socketify server in a child process (so the client's memory is not counted),
uploads one file part of ``--size-mib`` MiB over a loopback socket, and prints the
server's VmRSS before and after and its peak (VmHWM), read from /proc.  The file part goes
to a temp file (``SpooledTemporaryFile``); memory should stay flat whatever the size.
Everything is bounded by ``--timeout`` seconds.  Linux only (/proc).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import socket
import sys
import time

BOUNDARY = b"rss-bench-boundary"
CHUNK = 1024 * 1024


def status_kib(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field} for pid {pid}")


def serve(port_queue: multiprocessing.Queue, limit: int) -> None:
    from socketify import App
    from socketify.multipart import parse_form

    app = App(max_body_size=limit, idle_timeout=60)

    async def upload(res, req):
        form = await parse_form(res, req, max_total_size=limit)
        with form:
            blob = form.get_file("blob")
            res.end(f"{blob.size} {int(blob.file._rolled)}")

    app.post("/upload", upload)
    app.listen({"port": 0, "host": "127.0.0.1"}, lambda config: port_queue.put(config.port))
    app.run()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--timeout", type=float, default=300.0)
    args = parser.parse_args()
    size = args.size_mib * CHUNK
    head = (
        b"--" + BOUNDARY + b'\r\nContent-Disposition: form-data; name="blob"; filename="b"\r\n\r\n'
    )
    tail = b"\r\n--" + BOUNDARY + b"--\r\n"
    length = len(head) + size + len(tail)

    ports: multiprocessing.Queue = multiprocessing.Queue()
    server = multiprocessing.Process(target=serve, args=(ports, length + 1024), daemon=True)
    server.start()
    try:
        port = ports.get(timeout=30)
        time.sleep(0.2)  # let the loop settle before the first sample
        before = status_kib(server.pid, "VmRSS")
        deadline = time.monotonic() + args.timeout
        started = time.monotonic()
        chunk = bytes(range(256)) * (CHUNK // 256)
        with socket.create_connection(("127.0.0.1", port), timeout=args.timeout) as sock:
            sock.sendall(
                b"POST /upload HTTP/1.1\r\nHost: bench\r\n"
                b"Content-Type: multipart/form-data; boundary=" + BOUNDARY + b"\r\n"
                b"Content-Length: " + str(length).encode() + b"\r\n\r\n" + head
            )
            peak_seen = before
            for index in range(args.size_mib):
                if time.monotonic() > deadline:
                    raise SystemExit(f"timed out after {index} MiB")
                sock.sendall(chunk)
                if index % 64 == 0:
                    peak_seen = max(peak_seen, status_kib(server.pid, "VmRSS"))
            sock.sendall(tail)
            reply = b""
            while b"\r\n\r\n" not in reply or not reply.rstrip().endswith((b" 1", b" 0")):
                if time.monotonic() > deadline:
                    raise SystemExit(f"no complete reply: {reply!r}")
                more = sock.recv(4096)
                if not more:
                    break
                reply += more
        elapsed = time.monotonic() - started
        after = status_kib(server.pid, "VmRSS")
        hwm = status_kib(server.pid, "VmHWM")
        body = reply.partition(b"\r\n\r\n")[2].decode()
        print(f"upload: {args.size_mib} MiB in {elapsed:.1f} s; server answered {body!r}")
        print(f"server VmRSS before: {before / 1024:.1f} MiB")
        print(f"server VmRSS after:  {after / 1024:.1f} MiB")
        print(f"server VmRSS max sampled during upload: {max(peak_seen, after) / 1024:.1f} MiB")
        print(f"server VmHWM (peak): {hwm / 1024:.1f} MiB")
        print(f"growth: {(after - before) / 1024:+.1f} MiB (peak {(hwm - before) / 1024:+.1f} MiB)")
        ok = body.split()[0] == str(size)
        return 0 if ok else 1
    finally:
        server.terminate()
        server.join(10)


if __name__ == "__main__":
    if not os.path.exists("/proc/self/status"):
        sys.exit("needs Linux /proc")
    sys.exit(main())
