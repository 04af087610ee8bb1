"""The exceptions of the socketify package.

    SocketifyError                      root of everything raised here
    ├── InvalidSetting (ValueError)     App(**settings) got a bad value
    ├── InvalidStatus (ValueError)      write_status/send got something that is not a status
    ├── InvalidHeader (ValueError)      a header name/value that would break the head
    ├── ResponseStateError (RuntimeError)   header/status after the body started
    ├── RequestExpired (RuntimeError)   an AppRequest used after its callback, not preserved
    ├── BodyDecodeError (ValueError)    get_text/get_json/get_form_urlencoded got bad bytes
    └── TargetError                     the CLI could not load module:attr (socketify.server.target)

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
