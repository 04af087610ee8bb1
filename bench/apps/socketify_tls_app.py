"""The HTTPS benchmark app in the socketify API: ours and the original 0.0.31 alike.

``python socketify_tls_app.py PORT KEY CERT``.
"""

from __future__ import annotations

import sys

from socketify import App, AppOptions

PLAIN = b"Hello, World!"


def plaintext(res, req):
    res.write_header("Content-Type", "text/plain")
    res.end(PLAIN)


def json_route(res, req):
    res.end({"message": "Hello, World!"})


def main() -> None:
    port, key, cert = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    app = App(AppOptions(key_file_name=key, cert_file_name=cert))
    app.get("/plaintext", plaintext)
    app.get("/json", json_route)
    app.listen(port, lambda config: print("ready", flush=True))
    app.run()


if __name__ == "__main__":
    main()
