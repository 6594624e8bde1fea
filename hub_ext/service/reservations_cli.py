"""`accelhub reservations create|list|update|delete`: reservations over the REST API."""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from typing import Any

from .timeutil import parse_time

_RELATIVE = re.compile(r"^\+(\d+(?:\.\d+)?)([mhd])$")


def when(text: str) -> str:
    """ISO 8601, 'now', or '+90m' / '+2h' / '+1d' from now; returned as ISO 8601 UTC."""
    now = datetime.now(UTC)
    if text == "now":
        return now.isoformat()
    match = _RELATIVE.match(text)
    if match:
        amount, unit = float(match.group(1)), match.group(2)
        delta = {
            "m": timedelta(minutes=amount),
            "h": timedelta(hours=amount),
            "d": timedelta(days=amount),
        }[unit]
        return (now + delta).isoformat()
    try:
        return parse_time(text).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a time: use ISO 8601, 'now' or '+2h'"
        ) from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--url",
        default=os.environ.get("ACCELHUB_SERVICE_URL", "http://127.0.0.1:8000/services/accelhub/"),
        help="the service's URL (env ACCELHUB_SERVICE_URL)",
    )
    parser.add_argument(
        "--token",
        default=os.environ.get("ACCELHUB_TOKEN") or os.environ.get("JUPYTERHUB_API_TOKEN", ""),
        help="your JupyterHub API token (env ACCELHUB_TOKEN or JUPYTERHUB_API_TOKEN)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    create = actions.add_parser("create", help="reserve devices for a group")
    create.add_argument("--group", required=True, help="the participants' JupyterHub group")
    create.add_argument("--flavor", required=True, help="the accelerator flavor slug")
    size = create.add_mutually_exclusive_group(required=True)
    size.add_argument("--per-member", action="store_true", help="one device per group member")
    size.add_argument("--count", type=int, help="a fixed number of devices")
    create.add_argument("--start", type=when, default=when("now"), help="ISO 8601, now, +1h")
    create.add_argument("--end", type=when, required=True, help="ISO 8601 or +8h")
    create.add_argument("--name", default="", help="a name people will recognise")
    listing = actions.add_parser("list", help="reservations you may see")
    listing.add_argument("--group", default=None)
    update = actions.add_parser("update", help="extend or shrink a reservation")
    update.add_argument("id")
    resize = update.add_mutually_exclusive_group()
    resize.add_argument("--per-member", action="store_true", help="one device per group member")
    resize.add_argument("--count", type=int, help="a fixed number of devices")
    update.add_argument("--start", type=when, help="a new start: ISO 8601, now, +1h")
    update.add_argument("--end", type=when, help="a new end: ISO 8601 or +8h")
    update.add_argument("--name", help="a new name")
    delete = actions.add_parser("delete", help="cancel a reservation")
    delete.add_argument("id")


def _call(args: argparse.Namespace, method: str, path: str, body: Any = None) -> Any:
    url = args.url.rstrip("/") + "/api/v1/" + path
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Authorization", f"token {args.token}")
    request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=30) as response:
        text = response.read()
    return json.loads(text) if text else None


def _table(rows: list[dict[str, Any]]) -> str:
    cols = ["id", "name", "group", "flavor", "size", "claimed", "unclaimed", "start", "end"]
    cells = [[str(r.get(c, "")) for c in cols] for r in rows]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(cols)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    if not args.token:
        print("accelhub: give a JupyterHub API token (--token or ACCELHUB_TOKEN)", file=sys.stderr)
        return 2
    try:
        if args.action == "create":
            body: dict[str, Any] = {
                "group": args.group,
                "flavor": args.flavor,
                "per_member": bool(args.per_member),
                "start": args.start,
                "end": args.end,
                "name": args.name,
            }
            if args.count is not None:
                body["count"] = args.count
            result = _call(args, "POST", "reservations", body)
            print(json.dumps(result, indent=2) if args.json else _table([result]))
        elif args.action == "list":
            query = f"reservations?group={args.group}" if args.group else "reservations"
            rows = _call(args, "GET", query)["reservations"]
            print(json.dumps(rows, indent=2) if args.json else _table(rows))
        elif args.action == "update":
            change = {k: getattr(args, k) for k in ("start", "end", "name", "count")}
            change = {k: v for k, v in change.items() if v is not None}
            if args.per_member:
                change["per_member"] = True
            result = _call(args, "PATCH", f"reservations/{args.id}", change)
            print(json.dumps(result, indent=2) if args.json else _table([result]))
        else:
            _call(args, "DELETE", f"reservations/{args.id}")
            print(f"reservation {args.id} cancelled")
    except urllib.error.HTTPError as error:
        try:
            message = json.loads(error.read())["message"]
        except (ValueError, KeyError):
            message = error.reason
        print(f"accelhub: {message}", file=sys.stderr)
        return 1
    except urllib.error.URLError as error:
        print(f"accelhub: cannot reach the service at {args.url}: {error.reason}", file=sys.stderr)
        return 1
    return 0
