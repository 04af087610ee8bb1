"""The command line: parsing, targets, settings flags and the single-process server."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

import socketify
from socketify import App, limits
from socketify.server.cli import TargetError, build_parser, load_target, main, make_config

# The folder the socketify under test was imported from (src/ for an in-place build,
# site-packages for an install), so a subprocess runs the same build on any Python.
SRC = str(Path(socketify.__file__).resolve().parents[1])


def cli_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [SRC, env.get("PYTHONPATH")]))
    env.update(extra)
    return env


def run_cli(*args: str, cwd=None, env=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "socketify", *args],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=cwd,
        env=env or cli_env(),
    )


def one_line_error(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 2, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("socketify: error: ")
    return lines[0]


class Server:
    """The CLI serving one app in a subprocess; stdout read line by line."""

    def __init__(self, directory: Path, source: str, *args: str) -> None:
        (directory / "served.py").write_text(source)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "socketify", *args],
            cwd=directory,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=cli_env(),
        )
        assert self.proc.stdout is not None
        self.first = self.proc.stdout.readline().strip()
        assert "listening on" in self.first, (self.first, self.stop())
        self.port = int(self.first.rsplit(":", 1)[1]) if "http://" in self.first else 0

    def request(self, raw: bytes, path: str = "") -> tuple[int, bytes]:
        if path:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(5)
            sock.connect(path)
        else:
            sock = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        with sock:
            sock.sendall(raw)
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        return int(head.split(b" ", 2)[1]), body

    def get(self, target: str = "/", path: str = "") -> tuple[int, bytes]:
        raw = f"GET {target} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".encode()
        return self.request(raw, path)

    def stop(self) -> tuple[int, str, str]:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            out, err = self.proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, err = self.proc.communicate(timeout=5)
        return self.proc.returncode, out, err


HELLO = "from socketify import App\napp = App()\napp.get('/', lambda res, req: res.end('cli'))\n"


# ---- targets ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "target, message",
    [
        ("no_colon", "target must look like module:app, got 'no_colon'"),
        ("missing_module_xyz:app", "cannot import module 'missing_module_xyz': not found"),
        ("os:NoSuchThing", "module 'os' has no attribute 'NoSuchThing'"),
        ("os:sep", "'os:sep' is not a socketify App, a factory or run(app) (got str)"),
        ("os:getcwd", "factory 'os:getcwd' returned str, not a socketify App"),
        ("os:chown", "'os:chown' takes 3 arguments"),
    ],
)
def test_bad_target_is_one_line_and_exit_2(target, message):
    assert message in one_line_error(run_cli(target))


TARGETS = """
from socketify import App

MyApp = App()
MyApp.get("/", lambda res, req: res.end("instance"))

def make():
    app = App()
    app.get("/", lambda res, req: res.end("factory"))
    return app

def run(app):
    app.get("/", lambda res, req: res.end("run"))

def not_an_app():
    return 42

def two(a, b):
    pass
"""


@pytest.fixture
def targets(tmp_path, monkeypatch):
    (tmp_path / "MyProj.py").write_text(TARGETS)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield
    sys.modules.pop("MyProj", None)


def test_load_target_forms(targets, wire):
    assert wire(load_target("MyProj:MyApp")).get("/").text == "instance"
    assert wire(load_target("MyProj:make()")).get("/").text == "factory"
    assert wire(load_target("MyProj:make", factory=True)).get("/").text == "factory"
    assert wire(load_target("MyProj:make")).get("/").text == "factory"  # no argument: a factory
    app = load_target("MyProj:run", settings={"max_headers": 7})
    assert app.settings["max_headers"] == 7  # run(app) gets an App built with the settings
    assert wire(app).get("/").text == "run"


@pytest.mark.parametrize(
    "target, factory, message",
    [
        ("myproj:myapp", False, "cannot import module 'myproj'"),  # case preserved
        ("MyProj:myapp", False, "no attribute 'myapp'"),
        ("MyProj:MyApp()", False, "is an App, not a factory"),
        ("MyProj:MyApp", True, "is an App, not a factory"),
        ("MyProj:not_an_app()", False, "returned int, not a socketify App"),
        ("MyProj:two", False, "takes 2 arguments"),
    ],
)
def test_load_target_errors(targets, target, factory, message):
    with pytest.raises(TargetError, match=re.escape(message)):
        load_target(target, factory=factory)


def test_an_import_error_inside_the_app_shows_its_traceback(tmp_path):
    (tmp_path / "broken.py").write_text("import no_such_dependency_xyz\n")
    result = run_cli("broken:app", cwd=tmp_path)
    assert result.returncode == 1
    assert "Traceback" in result.stderr and "no_such_dependency_xyz" in result.stderr


def test_an_app_listening_at_import_is_refused(tmp_path):
    source = "from socketify import App\napp = App()\napp.listen(0)\n"
    (tmp_path / "eager.py").write_text(source)
    assert "listens already" in one_line_error(run_cli("eager:app", cwd=tmp_path))


# ---- options ----------------------------------------------------------------------------
def test_version():
    result = run_cli("--version")
    assert result.returncode == 0
    assert re.match(r"socketify \d+\.\d+\.\d+ \(\w+ \d+\.\d+", result.stdout)


def test_main_is_the_console_script_entry_point(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.startswith("socketify ")


@pytest.mark.parametrize(
    "args, message",
    [
        (["--threads", "0"], "--threads must be from 1 to 1024, not 0"),
        (["--threads", "2", "--interface", "asgi"], "--threads is for WSGI apps"),
        (["--root-path", "api"], "--root-path must start with '/'"),
        (["--ssl-keyfile", "k.pem"], "TLS needs both key_file_name and cert_file_name"),
        (["--ssl-cert-reqs", "3"], "--ssl-cert-reqs: cert_reqs must be none, optional or required"),
        (["--max-headers", "0"], "--max-headers must be between 1 and 65535, not 0"),
        (["--idle-timeout", "-1"], "--idle-timeout must be between"),
        (["--workers", "0"], "--workers must be at least 1, not 0"),
        (["--port", "70000"], "--port must be between 0 and 65535"),
        (["--reload-dir", "/no/such/dir"], "--reload-dir '/no/such/dir' is not a directory"),
        (["--reload-include", "*.html"], "--reload-include only applies with --reload"),
        (["--reload", "--reload-exclude", " "], "--reload-exclude needs a pattern"),
        (["--metrics-path", "metrics"], "--metrics-path must start with '/'"),
        (["--proxy-headers", "--forwarded-allow-ips", "nope"], "--forwarded-allow-ips: 'nope'"),
        (["--log-config", "/no/such.json"], "--log-config '/no/such.json': no such file"),
    ],
)
def test_bad_options_are_one_line_and_exit_2(args, message):
    assert message in one_line_error(run_cli("os:sep", *args))


def test_bad_web_concurrency_is_one_line_and_exit_2():
    result = run_cli("os:sep", env=cli_env(WEB_CONCURRENCY="many"))
    assert "WEB_CONCURRENCY must be a positive integer, not 'many'" in one_line_error(result)


def test_every_app_setting_has_a_flag():
    parser = build_parser()
    argv = ["m:app"]
    for name, spec in limits.SETTINGS.items():
        flag = "--" + name.replace("_", "-")
        if spec.kind == "bool":
            argv.append(flag if not spec.default else "--no-" + flag[2:])
        elif spec.kind == "text":
            argv += [flag, "10.0.0.0/8,unix"]
        else:
            argv += [flag, str(spec.high if spec.kind != "seconds" else 1.5)]
    settings = make_config(parser.parse_args(argv)).settings
    assert set(settings) == set(limits.SETTINGS)
    for name, spec in limits.SETTINGS.items():
        if spec.kind == "bool":
            assert settings[name] is (not spec.default)
        elif spec.kind == "text":
            assert settings[name] == "10.0.0.0/8,unix"
        elif spec.kind == "seconds":
            assert settings[name] == 1.5
        else:
            assert settings[name] == spec.high


def test_flags_left_out_keep_the_apps_settings():
    config = make_config(build_parser().parse_args(["m:app", "--max-url-size", "64"]))
    assert config.settings == {"max_url_size": 64}
    assert (config.host, config.port, config.workers, config.access_log) == (
        "127.0.0.1",
        8000,
        1,
        False,
    )


# ---- serving in one process ------------------------------------------------------------------
def test_cli_serves_an_app_and_stops_on_sigterm(tmp_path):
    server = Server(tmp_path, HELLO, "served:app", "--port", "0")
    try:
        assert server.first.startswith("socketify: listening on http://127.0.0.1:")
        assert server.get() == (200, b"cli")
    finally:
        code, out, _ = server.stop()
    assert code == 0
    assert "GET /" not in out  # no access log unless asked


def test_settings_flags_reach_the_app(tmp_path):
    source = HELLO + (
        "app.get('/setting', lambda res, req: res.end(str(app.settings['max_url_size'])))\n"
    )
    server = Server(tmp_path, source, "served:app", "--port", "0", "--max-url-size", "64")
    try:
        assert server.get("/?" + "x" * 100)[0] == 414
        assert server.get("/?short")[0] == 200
        assert server.get("/setting") == (200, b"64")
    finally:
        code, _, _ = server.stop()
    assert code == 0


def test_run_function_target(tmp_path):
    source = "def run(app):\n    app.get('/', lambda res, req: res.end('from run'))\n"
    server = Server(tmp_path, source, "served:run", "--port", "0")
    try:
        assert server.get() == (200, b"from run")
    finally:
        assert server.stop()[0] == 0


def test_unix_socket_single_process(tmp_path):
    path = str(tmp_path / "one.sock")
    server = Server(tmp_path, HELLO, "served:app", "--uds", path)
    try:
        assert server.first == f"socketify: listening on unix:{path}"
        assert server.get(path=path) == (200, b"cli")
    finally:
        assert server.stop()[0] == 0
    assert not os.path.exists(path)


ERRORS = HELLO + (
    "def boom(res, req):\n    raise RuntimeError('kaboom')\n"
    "app.get('/boom', boom)\n"
    "app.get('/json', lambda res, req: res.end({'a': 1}))\n"
)


def test_access_log_and_error_traceback(tmp_path):
    server = Server(tmp_path, ERRORS, "served:app", "--port", "0", "--access-log")
    try:
        assert server.get("/?q=1") == (200, b"cli")
        assert server.get("/boom")[0] == 500
        assert server.get("/json") == (200, b'{"a":1}')
        assert server.get("/missing")[0] == 404
    finally:
        code, out, err = server.stop()
    assert code == 0
    lines = out.splitlines()  # (the listening line was read already)
    pattern = r'127\.0\.0\.1 - - \[\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d \+0000\] "%s HTTP/1\.1" %s %s [\d.]+ms$'
    assert re.match(pattern % (r"GET /\?q=1", "200", "3"), lines[0]), lines
    assert re.match(pattern % ("GET /boom", "500", "21"), lines[1]), lines
    assert re.match(pattern % ("GET /json", "200", "7"), lines[2]), lines
    assert re.match(pattern % ("GET /missing", "404", "9"), lines[3]), lines
    # errors are always logged, with their traceback
    assert "Traceback" in err and "RuntimeError: kaboom" in err


def test_busy_port_is_an_error(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        (tmp_path / "served.py").write_text(HELLO)
        result = run_cli("served:app", "--port", str(port), cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"socketify: error: cannot listen on 127.0.0.1:{port}: Address already in use"
    )


def test_sigint_stops_the_single_process_server(tmp_path):
    server = Server(tmp_path, HELLO, "served:app", "--port", "0")
    # answered: run() serves, so its SIGINT handler is set (a fixed sleep was a guess)
    assert server.get() == (200, b"cli")
    server.proc.send_signal(signal.SIGINT)
    try:  # it exits by itself (stop() would add a SIGTERM, which could land in its exit)
        assert server.proc.wait(timeout=15) == 0
    finally:
        server.stop()


def test_app_is_the_target_type():
    assert isinstance(load_target("socketify:App"), App)  # a class is a zero-argument factory


def test_ws_flags_are_checked_before_serving(capsys):
    assert main(["os:sep", "--ws-idle-timeout", "5000"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "socketify: error: --ws-idle-timeout must be between 0 and 960, not 5000.0"


def test_ws_flags_become_ws_defaults():
    from socketify.enums import CompressOptions

    config = make_config(
        build_parser().parse_args(
            ["m:app", "--ws-max-size", "1024", "--ws-per-message-deflate", "--no-ws-auto-ping"]
        )
    )
    assert config.ws_defaults == {
        "max_payload_length": 1024,
        "compression": CompressOptions.SHARED_COMPRESSOR | CompressOptions.SHARED_DECOMPRESSOR,
        "send_pings_automatically": False,
    }


def test_prepare_app_applies_ws_defaults(tmp_path, monkeypatch):
    from socketify.server.worker import ServeConfig, prepare_app

    (tmp_path / "wsmod.py").write_text(
        "from socketify import App\n"
        "app = App()\n"
        "app.ws('/a', {})\n"
        "app.ws('/b', {'max_payload_length': 99})\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    app = prepare_app(ServeConfig(target="wsmod:app", ws_defaults={"max_payload_length": 10}))
    try:
        sizes = [spec.options["max_payload_length"] for spec in app._rt.ws_hub.specs]
        assert sizes == [10, 99]
    finally:
        app.close()


# ---- ASGI and WSGI targets -----------------------------------------------------------------
ADAPTED = """
import json


async def raw_asgi(scope, receive, send):
    if scope["type"] == "lifespan":
        message = await receive()
        scope["state"]["started"] = "yes"
        await send({"type": "lifespan.startup.complete"})
        await receive()
        await send({"type": "lifespan.shutdown.complete"})
        return
    body = json.dumps([scope["root_path"], scope["path"], scope["state"]]).encode()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


async def failing_lifespan(scope, receive, send):
    await receive()
    await send({"type": "lifespan.startup.failed", "message": "database down"})


def raw_wsgi(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [(environ["SCRIPT_NAME"] + "|" + environ["wsgi.multiprocess"].__repr__()).encode()]


def make_wsgi():
    return raw_wsgi


def three(a, b, c):
    return None
"""


@pytest.mark.parametrize("interface", ["asgi", "auto"])
def test_an_asgi_app_is_served_with_lifespan_and_root_path(tmp_path, interface):
    server = Server(
        tmp_path,
        ADAPTED,
        "served:raw_asgi",
        "--port",
        "0",
        "--interface",
        interface,
        "--root-path",
        "/api/",
    )
    try:
        status, body = server.get("/x")
    finally:
        code, _, err = server.stop()
    assert status == 200 and json.loads(body) == ["/api", "/api/x", {"started": "yes"}]
    assert code == 0, err


@pytest.mark.parametrize("args", [["--interface", "wsgi", "--threads", "3"], []])
def test_a_wsgi_app_is_served(tmp_path, args):
    server = Server(tmp_path, ADAPTED, "served:raw_wsgi", "--port", "0", "--root-path", "/m", *args)
    try:
        assert server.get("/") == (200, b"/m|False")
    finally:
        assert server.stop()[0] == 0


def test_a_factory_returning_a_wsgi_app_and_workers(tmp_path):
    server = Server(tmp_path, ADAPTED, "served:make_wsgi()", "--port", "0", "--workers", "2")
    try:
        assert server.get("/") == (200, b"|True")
    finally:
        assert server.stop()[0] == 0


def test_a_failed_lifespan_startup_exits_3(tmp_path):
    (tmp_path / "served.py").write_text(ADAPTED)
    result = run_cli("served:failing_lifespan", "--port", "0", "--lifespan", cwd=tmp_path)
    assert result.returncode == 3, result
    assert "database down" in result.stderr


def test_ambiguous_or_mismatched_targets_are_one_line_errors(tmp_path):
    (tmp_path / "served.py").write_text(ADAPTED + HELLO)
    assert "takes 3 arguments" in one_line_error(run_cli("served:three", cwd=tmp_path))
    message = one_line_error(run_cli("served:app", "--interface", "wsgi", cwd=tmp_path))
    assert "is a socketify App, not an WSGI application" in message


def test_every_setting_of_both_tables_is_a_flag() -> None:
    """The flags are generated from limits.SETTINGS and limits.WS_SETTINGS: one each."""
    from socketify import limits

    options = {o for action in build_parser()._actions for o in action.option_strings}
    for table, prefix in ((limits.SETTINGS, "--"), (limits.WS_SETTINGS, "--ws-")):
        for name, spec in table.items():
            assert prefix + limits.cli_flag(name, spec) in options, name
    assert "--ws-max-size" in options and "--ws-auto-ping" in options


def test_access_log_and_uds_work_for_asgi_and_wsgi(tmp_path):
    sock = str(tmp_path / "a.sock")
    for target in ("served:raw_asgi", "served:raw_wsgi"):
        server = Server(tmp_path, ADAPTED, target, "--uds", sock, "--access-log")
        try:
            status, _ = server.get("/logged", path=sock)
        finally:
            code, out, _ = server.stop()
        assert status == 200 and code == 0
        assert '"GET /logged HTTP/1.1" 200' in out, (target, out)


# ---- the original socketify CLI's forms -------------------------------------------------------
def test_switches_take_the_originals_value_form():
    config = make_config(
        build_parser().parse_args(
            ["m:app", "--ws-auto-ping", "false", "--ws-per-message-deflate", "true"]
        )
    )
    assert config.ws_defaults["send_pings_automatically"] is False
    assert config.ws_defaults["compression"]  # shared compressor and decompressor
    on = make_config(build_parser().parse_args(["m:app", "--lifespan", "off"]))
    assert on.settings["lifespan"] is False and on.lifespan == "off"
    auto = make_config(build_parser().parse_args(["m:app", "--lifespan", "auto"]))
    assert "lifespan" not in auto.settings and auto.lifespan == "auto"


def test_a_bad_switch_value_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["m:app", "--ws-auto-ping", "maybe"])
    assert exit_info.value.code == 2
    assert "expected true/false, on/off or auto, not 'maybe'" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("flag", "hint"),
    [
        ("--disable-listen-log", "--log-level warning"),
        ("--req-res-factory-maxitems=10", "no object pools"),
        ("--ws-factory-maxitems", "no object pools"),
        ("--task-factory-maxitems", "no object pools"),
    ],
)
def test_the_originals_other_flags_name_our_equivalent(capsys, flag, hint):
    assert main(["m:app", flag, "1"]) == 2
    err = capsys.readouterr().err
    assert "a flag of the original socketify CLI" in err and hint in err


def test_ws_module_attr_serves_that_behavior_on_every_path(tmp_path, monkeypatch):
    from socketify.server.worker import ServeConfig, prepare_app

    (tmp_path / "wsapp.py").write_text(
        "from socketify import App\n"
        "app = App()\n"
        "app.get('/', lambda res, req: res.end('http'))\n"
        "ws = {'message': lambda ws, m, op: ws.send('echo ' + m), 'max_payload_length': 64}\n"
        "not_a_dict = 3\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    config = make_config(build_parser().parse_args(["wsapp:app", "--ws", "wsapp:ws"]))
    assert config.ws_behavior == "wsapp:ws"
    app = prepare_app(config)
    try:
        from socketify_testing import TestClient

        with TestClient(app) as client:
            assert client.get("/").text == "http"
            with client.websocket_connect("/any/path") as ws:
                ws.send_text("hi")
                assert ws.receive_text() == "echo hi"
    finally:
        app.close()
    with pytest.raises(TargetError, match="expected a dict of WebSocket handlers"):
        prepare_app(ServeConfig(target="wsapp:app", ws_behavior="wsapp:not_a_dict"))
    with pytest.raises(TargetError, match="has no attribute 'nope'"):
        prepare_app(ServeConfig(target="wsapp:app", ws_behavior="wsapp:nope"))
    assert main(["wsapp:app", "--ws", "wsapp"]) == 2  # not module:attr


def test_interface_asgi3_is_asgi():
    assert main(["m:app", "--interface", "asgi3", "--port", "70000"]) == 2  # parsed, then refused


def test_reload_patterns_reach_the_config():
    config = make_config(
        build_parser().parse_args(
            ["m:app", "--reload", "--reload-include", "*.html", "--reload-exclude", "tmp_*"]
        )
    )
    assert config.reload_includes == ("*.py", "*.html")
    assert config.reload_excludes == (".*", ".py[cod]", ".sw.*", "~*", "tmp_*")


@pytest.mark.parametrize(
    "name, text, message",
    [
        ("bad.json", "{not json", "bad.json': "),  # json's own message differs by interpreter
        ("list.json", "[1, 2]", "needs a mapping with 'version': 1"),
        ("bad.ini", "[nothing]\n", "needs a [loggers] section"),
    ],
)
def test_a_broken_log_config_is_one_line_and_exit_2(tmp_path, name, text, message):
    (tmp_path / name).write_text(text)
    assert message in one_line_error(run_cli("os:sep", "--log-config", str(tmp_path / name)))
