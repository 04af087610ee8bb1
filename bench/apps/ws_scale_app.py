"""Broadcast bench app for pub/sub beyond one process (ours only): /room as in
ws_socketify_app.py, with the backend the environment names (PUBSUB_URL: a Redis URL;
unset: none, or the relay when the CLI runs it with --workers)."""

import os
import sys

from socketify import App


def relay(ws, message, opcode):
    ws.publish("room", message, opcode)


OPTIONS = {"max_payload_length": 1 << 20, "idle_timeout": 120, "max_backpressure": 16 << 20}

app = App(pubsub=os.environ.get("PUBSUB_URL") or None)
app.get("/plaintext", lambda res, req: res.end("Hello, World!"))
app.ws("/room", {**OPTIONS, "open": lambda ws: ws.subscribe("room"), "message": relay})

if __name__ == "__main__":
    app.listen(int(sys.argv[1]), lambda config: None)
    app.run()
