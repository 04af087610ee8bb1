"""The examples in /examples (the seed page's snippets) work, mounted together as demo.py does."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from socketify import App

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"

pytestmark = pytest.mark.skipif(not (EXAMPLES / "demo.py").exists(), reason="no examples dir")


@pytest.fixture
def demo(wire):
    spec = importlib.util.spec_from_file_location("socketify_examples_demo", EXAMPLES / "demo.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    app = module.mount_all(App())
    return wire(app)


def test_hello_and_send(demo):
    assert demo.get("/").text == "Hello, World!"
    assert demo.get("/parts").text == "I can send  in parts!"
    assert demo.get("/empty").body == b""
    assert demo.get("/responded").text == "responded before: False"
    assert json.loads(demo.get("/json").body) == {"Hello": "World!"}
    reply = demo.get("/with-headers")
    assert reply.header("x-rate-limit-remaining") == "10"
    assert reply.header("another-headers") == "Value"


def test_status(demo):
    assert demo.get("/status/not-found").status == 404
    assert demo.get("/status/ok").text == "OK"
    assert demo.get("/status/send-not-found").status == 404
    assert demo.get("/status/send-ok").text == "OK"


def test_headers_url_and_params(demo):
    assert demo.get("/headers", headers=[("Authorization", "x")]).text == "authorization: x"
    download = demo.get("/headers/download")
    assert download.header("content-disposition") == 'attachment; filename="message.txt"'
    assert "Header host: test" in demo.get("/headers/list").text
    assert demo.get("/url?a=1").text == "GET /url /url?a=1"
    assert demo.get("/user/1").text == "Hello user with id 1!"
    assert demo.get("/user/7").text == "All params ['7']"


def test_query_cookies_redirect_ip(demo):
    body = json.loads(demo.get("/search?search=a+b&tag=1&tag=2").body)
    assert body == {"search": "a b", "all": {"search": ["a b"], "tag": ["1", "2"]}}
    reply = demo.get("/cookies", headers=[("Cookie", "session_id=abc")])
    assert reply.text == "Your session_id cookie is: abc"
    assert reply.header("set-cookie").startswith("session_id=1234567890; Path=/; HttpOnly")
    reply = demo.get("/redirect")
    assert (reply.status, reply.header("location")) == (302, "/redirected")
    assert "origin server is: 127.0.0.1" in demo.get("/ip").text


def test_async_lifespan_errors_and_middleware(demo):
    assert demo.get("/async?name=you").text == "Hello, you, after a while"
    assert demo.get("/run-async").text == "finished by run_async"
    assert demo.get("/aborted").text == "not aborted"
    assert b"sendfile" in demo.get("/sendfile").body
    demo.loop.run_until_complete(demo.app.startup())
    assert "started" in json.loads(demo.get("/lifespan").body)["events"]
    reply = demo.get("/error")
    assert (reply.status, reply.text) == (500, "Sorry we did something wrong")
    assert demo.get("/api/me").status == 403
    assert json.loads(demo.get("/api/me", headers=[("Token", "secret")]).body) == {
        "user": "Ann",
        "path": "/api/me",
    }
    assert demo.get("/chain", headers=[("Token", "secret")]).text == "Hello, Ann"
    assert demo.get("/private", headers=[("Token", "secret")]).text == "Hello, Ann"
