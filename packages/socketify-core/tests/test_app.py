from __future__ import annotations

import json

import pytest

from socketify import App, AppOptions
from socketify_router import RouteGroup


def hello(res, req):
    res.end("Hello")


def test_route_methods_return_the_app_for_chaining():
    app = App()
    for name in (
        "get",
        "post",
        "put",
        "delete",
        "patch",
        "options",
        "head",
        "connect",
        "trace",
        "any",
    ):
        assert getattr(app, name)(f"/{name}", hello) is app
    assert app.add("GET", "/added", hello, name="added") is app
    assert app.url_for("added") == "/added"


def test_route_method_without_handler_is_a_decorator(wire):
    app = App()

    @app.post("/p")
    def posted(res, req):
        res.end("posted")

    assert callable(posted)
    assert wire(app).request("POST", "/p").text == "posted"


def test_each_method_reaches_its_handler(wire):
    app = App()
    for method in ("GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"):
        app.add(method, "/m", lambda res, req: res.end(req.get_method()))
    w = wire(app)
    for method in ("GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"):
        assert w.request(method, "/m").text == method


def test_any_route_takes_every_method(wire):
    app = App().any("/x", lambda res, req: res.end(req.get_method()))
    w = wire(app)
    assert w.request("DELETE", "/x").text == "DELETE"
    assert w.request("PATCH", "/x").text == "PATCH"


def test_hello_world(wire):
    app = App().get("/", hello)
    reply = wire(app).get("/")
    assert reply.status == 200
    assert reply.reason == "OK"
    assert reply.body == b"Hello"
    assert reply.header("content-length") == "5"
    assert reply.header("date")


def test_no_route_is_404_not_a_closed_connection(wire):
    app = App().get("/", hello)
    w = wire(app)
    conn = w.connect()
    conn.feed(b"GET /missing HTTP/1.1\r\nHost: t\r\n\r\n")
    (reply,) = w.replies(conn)
    assert reply.status == 404
    assert reply.body == b"Not Found"
    assert conn.open  # keep-alive: the next request works on the same connection
    conn.feed(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
    assert w.replies(conn)[0].body == b"Hello"


def test_wrong_method_is_405_with_full_allow(wire):
    app = App().get("/r", hello).post("/r", hello).delete("/r", hello)
    reply = wire(app).request("PUT", "/r")
    assert reply.status == 405
    assert reply.header("allow") == "DELETE, GET, HEAD, POST"
    assert reply.body == b"Method Not Allowed"


def test_head_falls_back_to_get_without_body(wire):
    app = App().get("/", hello)
    reply = wire(app).request("HEAD", "/")
    assert reply.status == 200
    assert reply.header("content-length") == "5"
    assert reply.body == b""


def test_set_yield_passes_to_the_next_matching_route(wire):
    app = App()
    seen = []

    def first(res, req):
        seen.append(("first", req.get_parameter(0)))
        req.set_yield(True)

    app.get("/users/:id", first)
    app.get("/users/*", lambda res, req: res.end("second"))
    assert wire(app).get("/users/7").text == "second"
    assert seen == [("first", "7")]


def test_set_yield_with_nothing_left_is_404(wire):
    app = App().get("/only", lambda res, req: req.set_yield(True))
    assert wire(app).get("/only").status == 404


def test_parameters_reach_the_handler(wire):
    app = App()
    app.get("/user/:id", lambda res, req: res.end(f"id={req.get_parameter(0)}"))
    assert wire(app).get("/user/42").text == "id=42"


def test_router_group_registers_prefix_and_returns_function(wire):
    app = App()
    api = app.router("/api")
    assert isinstance(api, RouteGroup)

    @api.put("/item")
    def put_item(res, req):
        res.end("put")

    assert put_item.__name__ == "put_item"
    assert wire(app).request("PUT", "/api/item").text == "put"


def test_router_with_middleware(wire):
    app = App()

    def auth(res, req, data):
        if req.get_header("token") != "yes":
            res.write_status(401).end("no")
            return None
        return {"user": "ann"}

    group = app.router("/private", auth)

    @group.get("/me")
    def me(res, req, data):
        res.end(data["user"])

    w = wire(app)
    assert w.get("/private/me").status == 401
    assert w.get("/private/me", headers=[("Token", "yes")]).text == "ann"


def test_json_serializer_module(wire):
    class Loud:
        @staticmethod
        def dumps(obj):
            return json.dumps(obj).upper()

        @staticmethod
        def loads(data):
            return json.loads(data)

    app = App()
    assert app.json_serializer(Loud) is app
    app.get("/", lambda res, req: res.end({"a": "b"}))
    reply = wire(app).get("/")
    assert reply.body == b'{"A": "B"}'
    assert reply.header("content-type") == "application/json"


def test_json_serializer_refuses_objects_without_dumps():
    with pytest.raises(TypeError):
        App().json_serializer(object())


def test_template_engine_renders(wire):
    class Engine:
        def render(self, name, **kw):
            return f"<p>{name} {kw['x']}</p>"

    app = App()
    app.template(Engine())
    app.get("/", lambda res, req: res.render("hi", x=1))
    assert wire(app).get("/").text == "<p>hi 1</p>"


def test_template_must_have_render():
    with pytest.raises(TypeError, match="render"):
        App().template(object())


def test_render_without_template_is_a_500(wire):
    app = App().get("/", lambda res, req: res.render("x"))
    assert wire(app).get("/").status == 500


def test_handler_must_be_callable():
    with pytest.raises(TypeError, match="not callable"):
        App().get("/", "nope")


def test_bad_pattern_raises_value_error():
    with pytest.raises(ValueError):
        App().get("no-slash", hello)


def test_duplicate_route_raises():
    app = App().get("/", hello)
    with pytest.raises(ValueError):
        app.get("/", hello)


def test_settings_are_validated_at_construction():
    with pytest.raises(ValueError, match="max_headers"):
        App(max_headers=0)
    with pytest.raises(TypeError, match="idle_timeout"):
        App(idle_timeout="10")
    with pytest.raises(TypeError, match="unknown App setting"):
        App(max_header=10)
    assert App(idle_timeout=3).settings["idle_timeout"] == 3


def test_options_with_tls_files_is_not_silently_plain(tmp_path):
    from socketify import TLSConfigError

    app = App(AppOptions(key_file_name=str(tmp_path / "k.pem"), cert_file_name="c.pem"))
    assert app.is_ssl
    with pytest.raises(TLSConfigError, match=r"cert_file_name .c\.pem.: No such file"):
        app.listen(0)  # files are checked before anything is bound
    app.close()
    with pytest.raises(TypeError):
        App(options={"key_file_name": "x"})
    App(AppOptions())


def test_max_body_size_setting_reaches_the_core(wire):
    app = App(max_body_size=4).post("/", lambda res, req: res.end("ok"))
    reply = wire(app).request("POST", "/", body=b"123456789")
    assert reply.status == 413


def test_max_url_size_setting_reaches_the_core(wire):
    app = App(max_url_size=32).get("/*", hello)
    assert wire(app).get("/" + "a" * 100).status == 414


def test_websocket_parts_exist_before_any_connection():
    app = App()
    assert app.ws("/ws", {}) is app
    assert app.publish("t", "m") is False
    assert app.num_subscribers("t") == 0


def test_get_native_handle_is_a_cffi_pointer():
    from socketify._native import ffi

    app = App()
    try:
        handle = app.get_native_handle()
        assert isinstance(handle, ffi.CData)
        assert handle != ffi.NULL
    finally:
        app.close()


def test_static_serves_files_and_refuses_escapes(wire, tmp_path):
    (tmp_path / "a.txt").write_text("alpha")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "index.html").write_text("<b>i</b>")
    app = App().static("/files", str(tmp_path))
    w = wire(app)
    reply = w.get("/files/a.txt")
    assert reply.text == "alpha"
    assert reply.header("content-type") == "text/plain; charset=utf-8"
    assert reply.header("last-modified")
    assert w.get("/files/sub/").text == "<b>i</b>"
    assert w.get("/files/missing.txt").status == 404
    assert w.get("/files/%2e%2e/%2e%2e/etc/passwd").status == 404


def test_static_needs_an_existing_directory(tmp_path):
    with pytest.raises(NotADirectoryError):
        App().static("/x", str(tmp_path / "nope"))
