"""The exceptions of the socketify package.

    SocketifyError                      root of everything raised here
    ├── InvalidSetting (ValueError)     App(**settings) got a bad value
    ├── InvalidStatus (ValueError)      write_status/send got something that is not a status
    ├── InvalidHeader (ValueError)      a header name/value that would break the head
    ├── ResponseStateError (RuntimeError)   header/status after the body started
    ├── RequestExpired (RuntimeError)   an AppRequest used after its callback, not preserved
    ├── BodyDecodeError (ValueError)    get_text/get_json/get_form_urlencoded got bad bytes
    ├── TargetError                     the CLI could not load module:attr (socketify.server.target)
    ├── ASGIProtocolError (RuntimeError)    an ASGI/WSGI app misused send()/start_response
    ├── ClientDisconnected (OSError)    send() after the client went away (ASGI spec 2.4)
    └── LifespanFailure (RuntimeError)  lifespan startup/shutdown failed

Errors that map to an HTTP status carry it in ``status_hint``: without an error handler
of the app's own, an error of ours with a 4xx hint is answered with that status and its
message (and the connection closed, since a refused body may still be arriving); any
other exception is a 500.
"""

from __future__ import annotations


class SocketifyError(Exception):
    status_hint = 500


class InvalidSetting(SocketifyError, ValueError):
    pass


class InvalidStatus(SocketifyError, ValueError):
    pass


class InvalidHeader(SocketifyError, ValueError):
    pass


class ResponseStateError(SocketifyError, RuntimeError):
    pass


class RequestExpired(SocketifyError, RuntimeError):
    pass


class BodyDecodeError(SocketifyError, ValueError):
    status_hint = 400


class ASGIProtocolError(SocketifyError, RuntimeError):
    """An ASGI or WSGI application broke its protocol (start twice, body before start...)."""


class ClientDisconnected(SocketifyError, OSError):
    """``send()`` on a connection whose client went away (ASGI spec 2.4: an OSError)."""


class LifespanFailure(SocketifyError, RuntimeError):
    """The application's lifespan startup (or shutdown) failed."""
