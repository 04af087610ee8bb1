"""WebSocket bench app for socketify (ours and 0.0.31 alike): /echo and /room."""

import sys

from socketify import App


def echo(ws, message, opcode):
    ws.send(message, opcode)


def relay(ws, message, opcode):
    ws.publish("room", message, opcode)


OPTIONS = {"max_payload_length": 1 << 20, "idle_timeout": 120, "max_backpressure": 16 << 20}

app = App()
app.get("/plaintext", lambda res, req: res.end("Hello, World!"))
app.ws("/echo", {**OPTIONS, "message": echo})
app.ws("/room", {**OPTIONS, "open": lambda ws: ws.subscribe("room"), "message": relay})
app.listen(int(sys.argv[1]), lambda config: None)
app.run()
