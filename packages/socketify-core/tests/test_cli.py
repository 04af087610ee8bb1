from __future__ import annotations

import http.client
import os
import subprocess
import sys
import time

import pytest

from socketify.cli import TargetError, load_target

SRC = os.path.join(os.path.dirname(__file__), "..", "src")


def run_cli(*args, cwd=None, **kw):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [SRC, env.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-m", "socketify", *args],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=cwd,
        env=env,
        **kw,
    )


@pytest.mark.parametrize(
    "target, message",
    [
        ("no_colon", "module:app"),
        ("missing_module_xyz:app", "cannot import"),
        ("os:NoSuchThing", "no attribute"),
        ("os:sep", "not a socketify App"),
    ],
)
def test_bad_target_is_one_line_and_exit_2(target, message):
    result = run_cli(target)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0]


def test_load_target_is_case_preserving_and_supports_factories(tmp_path, monkeypatch):
    (tmp_path / "MyProj.py").write_text(
        "from socketify import App\nMyApp = App()\ndef make():\n    return App()\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    from socketify import App

    assert isinstance(load_target("MyProj:MyApp"), App)
    assert isinstance(load_target("MyProj:make()"), App)
    with pytest.raises(TargetError):
        load_target("myproj:myapp")


def test_cli_serves_an_app(tmp_path):
    (tmp_path / "hello_app.py").write_text(
        "from socketify import App\napp = App()\napp.get('/', lambda res, req: res.end('cli'))\n"
    )
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [SRC, env.get("PYTHONPATH")]))
    proc = subprocess.Popen(
        [sys.executable, "-m", "socketify", "hello_app:app", "--port", "0"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        line = proc.stdout.readline()
        assert "listening on http://127.0.0.1:" in line
        port = int(line.rsplit(":", 1)[1])
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("GET", "/")
        assert conn.getresponse().read() == b"cli"
        conn.close()
        proc.terminate()
        proc.wait(10)
        assert proc.returncode == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            time.sleep(0.1)
