"""``python -m socketify module:app [--host H] [--port P]``: serve an App.

``module:attr`` is imported as written (case preserved); ``module:factory()`` calls a
factory.  A target that cannot be loaded, or is not an App, prints one line and exits 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import Any, Optional

USAGE_ERROR = 2


class TargetError(Exception):
    pass


def load_target(target: str) -> Any:
    from .app import App

    module_name, sep, attribute = target.partition(":")
    if not sep or not module_name or not attribute:
        raise TargetError(f"target must look like module:app, got {target!r}")
    call = attribute.endswith("()")
    if call:
        attribute = attribute[:-2]
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise TargetError(f"cannot import module {module_name!r}: {exc}") from exc
    obj: Any = module
    for part in attribute.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise TargetError(f"module {module_name!r} has no attribute {attribute!r}") from None
    if call:
        obj = obj()
    if not isinstance(obj, App):
        raise TargetError(f"{target!r} is not a socketify App (got {type(obj).__name__})")
    return obj


def parse_args(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m socketify", description=__doc__.split("\n")[0])
    parser.add_argument("target", help="module:app or module:factory()")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000, 0 picks one)")
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    if "" not in sys.path:
        sys.path.insert(0, "")
    try:
        app = load_target(args.target)
    except TargetError as exc:
        print(f"socketify: error: {exc}", file=sys.stderr)
        return USAGE_ERROR
    try:
        app.listen(
            {"port": args.port, "host": args.host},
            lambda config: print(
                f"socketify: listening on http://{config.host}:{config.port}", flush=True
            ),
        )
    except (OSError, ValueError, TypeError) as exc:
        print(f"socketify: error: {exc}", file=sys.stderr)
        return USAGE_ERROR
    app.run()
    return 0
