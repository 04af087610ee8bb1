"""One error tree: every exception class socketify defines is in socketify.errors."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import socketify
from socketify import errors


def every_module() -> list:
    modules = [socketify]
    for info in pkgutil.walk_packages(socketify.__path__, "socketify."):
        if info.name.endswith("._native") or info.name.endswith("__main__"):
            continue
        modules.append(importlib.import_module(info.name))
    return modules


def test_every_exception_class_of_socketify_is_in_the_tree() -> None:
    public = set(errors.__all__)
    found = {}
    for module in every_module():
        for name, obj in vars(module).items():
            if (
                inspect.isclass(obj)
                and issubclass(obj, BaseException)
                and obj.__module__.split(".")[0] == "socketify"
                and not name.startswith("_")
            ):
                found[name] = obj
    assert found, "no exception classes found: the walk is broken"
    missing = {name for name in found if name not in public}
    assert not missing, f"exceptions outside socketify.errors: {sorted(missing)}"
    for name, obj in found.items():
        assert getattr(errors, name) is obj, name
        assert issubclass(obj, errors.SocketifyError), f"{name} is not under SocketifyError"


def test_the_tree_is_exported_from_socketify_and_drawn_in_the_docstring() -> None:
    doc = errors.__doc__ or ""
    for name in errors.__all__:
        assert getattr(socketify, name) is getattr(errors, name)
        assert name in doc, f"{name} is not drawn in socketify.errors' docstring"


def test_errors_keep_their_builtin_bases_and_status_hints() -> None:
    assert issubclass(errors.InvalidSetting, ValueError)
    assert issubclass(errors.WebSocketError, RuntimeError)
    assert issubclass(errors.ClientDisconnected, OSError)
    assert errors.BodyDecodeError.status_hint == 400
    assert errors.LimitExceeded("max_parts", 3).status_hint == 413
    assert issubclass(errors.MiddlewareStopped, errors.RouterError)


def test_each_core_return_code_maps_to_one_exception_class() -> None:
    from socketify._native import lib

    assert lib.SC_EOS_BASE == errors.SC_EOS_BASE == -1000
    expected = {
        lib.SC_ESTALE: errors.StaleHandleError,
        lib.SC_EINVAL: errors.InvalidArgumentError,
        lib.SC_ENOMEM: errors.CoreMemoryError,
        lib.SC_ESTATE: errors.ResponseStateError,
        lib.SC_EAGAIN: errors.BackpressureError,
        lib.SC_EIO: errors.ConnectionClosedError,
    }
    for code, kind in expected.items():
        error = errors.core_error(code, "a call")
        assert type(error) is kind and isinstance(error, errors.SocketifyError)
    # the ranges cannot collide: an errno is never an sc_error code
    import errno as errno_module

    for number in (errno_module.EPERM, errno_module.ENOENT, errno_module.EADDRINUSE):
        os_error = errors.core_error(lib.SC_EOS_BASE - number, "cannot listen")
        assert isinstance(os_error, OSError) and os_error.errno == number
        assert lib.SC_EOS_BASE - number not in expected
    assert isinstance(errors.core_error(-77, "x"), errors.CoreError)


def test_listen_on_a_taken_port_is_an_oserror_with_its_errno() -> None:
    import errno as errno_module
    import socket

    import pytest

    from socketify import App

    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    app = App()
    try:
        with pytest.raises(OSError) as info:
            app.listen({"port": taken.getsockname()[1], "host": "127.0.0.1", "options": 1})
        assert info.value.errno == errno_module.EADDRINUSE
        assert "cannot listen on 127.0.0.1" in str(info.value)
    finally:
        app.close()
        taken.close()
