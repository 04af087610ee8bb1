"""Throughput of the socketify_json adapters against raw stdlib json, on three payloads.

Run:  python bench/bench_json.py [--repeat 5] [--min-time 0.1]
      (or `nox -s bench_json`, which installs socketify-json[orjson,ujson] first)

Installs nothing: adapters whose library is missing are reported as skipped.  From a
checkout without socketify-json installed, the package is imported from its src/.

For each payload (small dict, medium list of records, large nested document) and each
operation, every contender is timed with timeit (best of --repeat runs, each at least
--min-time seconds) and reported as ops/s and as a ratio to raw stdlib ``json.dumps`` /
``json.loads`` measured in the same run.  Raw ``json.dumps`` returns str with default
separators; the adapters return UTF-8 bytes, so the adapter rows include that encode.
Before timing, every contender's output is checked to read back equal to the payload.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import timeit
from pathlib import Path
from typing import Any, Callable

try:
    import socketify_json
except ImportError:  # running from a checkout
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "packages/socketify-json/src"))
    import socketify_json


def small_payload() -> Any:
    return {"id": 42, "name": "Alice", "active": True, "score": 9.5, "tags": ["a", "b"]}


def medium_payload() -> Any:
    return [
        {
            "id": i,
            "name": f"user {i}",
            "email": f"user{i}@example.com",
            "balance": round(i * 3.14159, 2),
            "active": i % 3 != 0,
            "roles": ["reader", "writer"] if i % 2 else ["reader"],
            "manager": None,
        }
        for i in range(100)
    ]


def large_payload() -> Any:
    return {
        "catalog": [
            {
                "category": f"Catégorie {c} ✓",
                "products": [
                    {
                        "sku": f"SKU-{c:03d}-{p:04d}",
                        "title": f"Product {p} — naïve café 😀",
                        "price": {"amount": p * 1.25 + c, "currency": "EUR"},
                        "stock": {"warehouse": [p % 7, p % 11, p % 13], "reserved": p % 5},
                        "attributes": {"color": "blue", "size": ["S", "M", "L"], "weight": 0.5},
                        "reviews": [{"stars": s % 5 + 1, "text": "great " * 5} for s in range(3)],
                    }
                    for p in range(40)
                ],
            }
            for c in range(25)
        ],
        "meta": {"version": 3, "generated": "2024-01-01T00:00:00Z", "complete": True},
    }


PAYLOADS: dict[str, Callable[[], Any]] = {
    "small dict": small_payload,
    "medium list of records": medium_payload,
    "large nested document": large_payload,
}
ADAPTERS = ["json", "orjson", "ujson"]


def contenders(skipped: list[str]) -> dict[str, tuple[Callable[[Any], Any], Callable[[Any], Any]]]:
    found = {"stdlib json (raw)": (json.dumps, json.loads)}
    for name in ADAPTERS:
        try:
            adapter = socketify_json.resolve(name)
        except ImportError as exc:
            skipped.append(f"{name}: {exc}")
            continue
        found[f"{name} adapter"] = (adapter.dumps, adapter.loads)
    return found


def ops_per_second(fn: Callable[[Any], Any], arg: Any, repeat: int, min_time: float) -> float:
    timer = timeit.Timer("fn(arg)", globals={"fn": fn, "arg": arg})
    loops = 1
    while timer.timeit(loops) < min_time:  # bounded: each step multiplies loops by 2
        loops *= 2
    best = min(timer.repeat(repeat=repeat, number=loops))
    return loops / best


def version_of(name: str) -> str:
    try:
        return getattr(__import__(name), "__version__", "?")
    except ImportError:
        return "not installed"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per figure (best wins)")
    parser.add_argument("--min-time", type=float, default=0.1, help="seconds per timed run")
    args = parser.parse_args(argv)

    skipped: list[str] = []
    found = contenders(skipped)
    print(
        f"{platform.python_implementation()} {platform.python_version()}, "
        f"orjson {version_of('orjson')}, ujson {version_of('ujson')}"
    )
    for line in skipped:
        print(f"skipped {line}")
    header = f"{'payload':<24}{'op':<7}{'serializer':<20}{'ops/s':>12}{'vs stdlib':>11}"
    print(header)
    print("-" * len(header))
    for label, make in PAYLOADS.items():
        payload = make()
        document = json.dumps(payload).encode("utf-8")
        for name, (dumps, loads) in found.items():  # sanity before timing
            if json.loads(dumps(payload)) != payload or loads(document) != payload:
                raise SystemExit(f"{name} does not read back {label!r} equal")
        for op, index, arg in (("dumps", 0, payload), ("loads", 1, document)):
            baseline = 0.0
            for name, pair in found.items():
                rate = ops_per_second(pair[index], arg, args.repeat, args.min_time)
                baseline = baseline or rate
                print(f"{label:<24}{op:<7}{name:<20}{rate:>12,.0f}{rate / baseline:>10.2f}x")
        print(f"{'':<24}({len(document):,} bytes of stdlib json.dumps output)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
