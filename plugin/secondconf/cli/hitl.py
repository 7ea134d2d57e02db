"""``secondconf-hitl``: record and inspect HITL approvals.

A human runs ``approve`` before a restricted run; ``list`` shows what is in force and
``verify`` checks the chains (exit 1 if broken, so CI can gate on it) and says what
protects the log: an HMAC chain under ``HITL_LOG_KEY``, or only the unkeyed hash chain,
which detects accidents, not tampering. Every error is one ``secondconf-hitl: error:`` line
with exit code 2, never a traceback: the people running this are approving production
actions and need a clear answer.
"""

from __future__ import annotations

import argparse
import sys
import unicodedata
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import NoReturn

from secondconf.contract.platform import ENVS
from secondconf.core import durations
from secondconf.core.clock import Clock, SystemClock, utc_iso
from secondconf.hitl.keys import KEY_ENV
from secondconf.hitl.log import (
    DEFAULT_LOG_PATH,
    DEFAULT_MAX_APPROVAL,
    GATES,
    ApprovalLog,
    ApprovalLogError,
    ApprovalTooLongError,
    append_approval,
    format_length,
)

PROG = "secondconf-hitl"


class _UsageError(Exception):
    """A command-line mistake; ``main`` turns it into one stderr line and exit 2."""


class _Parser(argparse.ArgumentParser):
    """argparse, but errors are raised (not printed with usage and exited)."""

    def error(self, message: str) -> NoReturn:
        raise _UsageError(message)


def parse_duration(text: str) -> timedelta:
    """An approval's length (``90s``, ``30m``, ``2h``, ``1d``, ``1h30m``); longer than zero."""
    duration = timedelta(seconds=durations.parse_duration(text))
    if duration <= timedelta(0):
        raise ValueError(f"duration {text!r} must be longer than zero")
    return duration


def parse_instant(text: str) -> datetime:
    """An ISO 8601 time with an explicit offset, in UTC; a naive time is ambiguous, so
    refused, and so is one that has no UTC equivalent (9999-12-31T23:59:59-05:00)."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"bad time {text!r} (use ISO 8601, e.g. 2026-01-02T15:00:00Z)") from None
    if moment.tzinfo is None:
        raise ValueError(f"time {text!r} needs a timezone (e.g. 2026-01-02T15:00:00Z or +02:00)")
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"time {text!r} is out of range") from None


def _build_parser() -> _Parser:
    parser = _Parser(
        prog=PROG,
        description=(
            f"Record and inspect HITL approvals (hash-chained; HMAC-chained under {KEY_ENV})."
        ),
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add_log(sub: argparse.ArgumentParser) -> None:
        sub.add_argument(
            "--log",
            default=str(DEFAULT_LOG_PATH),
            metavar="PATH",
            help=f"approvals log (default: {DEFAULT_LOG_PATH}, relative to the current directory)",
        )

    approve = commands.add_parser("approve", help="approve a gate in an env until a deadline")
    approve.add_argument("--who", required=True, help="the approving human")
    approve.add_argument("--gate", required=True, choices=GATES)
    approve.add_argument("--env", required=True, choices=ENVS)
    approve.add_argument("--reason", required=True, help="why (one line)")
    expiry = approve.add_mutually_exclusive_group(required=True)
    expiry.add_argument("--expires-in", metavar="DURATION", help="e.g. 30m, 2h, 1d, 90s")
    expiry.add_argument("--expires-at", metavar="ISO8601", help="e.g. 2026-01-02T15:00:00Z")
    approve.add_argument(
        "--max-approval",
        default=format_length(DEFAULT_MAX_APPROVAL),
        metavar="DURATION",
        help="refuse an approval longer than this (default: %(default)s; the gate applies"
        " its own cap, --hitl-max-approval, when it reads the log)",
    )
    add_log(approve)

    listing = commands.add_parser("list", help="show approvals, escalations and use count")
    listing.add_argument("--all", action="store_true", help="include expired approvals")
    add_log(listing)

    verify = commands.add_parser("verify", help="check the chains (exit 1 if broken)")
    add_log(verify)
    return parser


def main(argv: Sequence[str] | None = None, *, clock: Clock | None = None) -> int:
    """Entry point of ``secondconf-hitl``; ``clock`` lets tests fix the time."""
    clock = clock or SystemClock()
    try:
        try:
            args = _build_parser().parse_args(argv)
        except SystemExit as exc:  # --help / --version print and exit on their own
            return exc.code if isinstance(exc.code, int) else 0
        if args.command == "approve":
            return _approve(args, clock)
        if args.command == "list":
            return _list(args, clock)
        return _verify(args)
    except (_UsageError, ValueError, ApprovalLogError) as exc:
        print(f"{PROG}: error: {_one_line(str(exc))}", file=sys.stderr)
        return 2
    except OSError as exc:
        where = f" {exc.filename}" if exc.filename else ""
        print(f"{PROG}: error: cannot write{where}: {exc.strerror or exc}", file=sys.stderr)
        return 2


def _approve(args: argparse.Namespace, clock: Clock) -> int:
    if args.expires_in is not None:
        # Whole seconds read better and lose < 1 s of a duration that is at least 1 s.
        expires_at = (clock.now() + parse_duration(args.expires_in)).replace(microsecond=0)
    else:
        expires_at = parse_instant(args.expires_at)
    max_length = parse_duration(args.max_approval)
    try:
        approval = append_approval(
            args.log,
            who=args.who,
            gate=args.gate,
            env=args.env,
            reason=args.reason,
            expires_at=expires_at,
            clock=clock,
            max_length=max_length,
        )
    except ApprovalTooLongError as error:
        raise _UsageError(f"{error} (--max-approval)") from None
    print(
        f"approved {approval.short_id}: gate {approval.gate}, env {approval.env}, "
        f"expires {utc_iso(approval.expires_at)} (log {args.log})"
    )
    if approval.length > DEFAULT_MAX_APPROVAL:
        print(
            f"note: it lasts {format_length(approval.length)}; the gate counts it only with"
            f" --hitl-max-approval {format_length(approval.length)} or more"
        )
    return 0


def _list(args: argparse.Namespace, clock: Clock) -> int:
    log = ApprovalLog.load(args.log)
    now = clock.now()
    uses_per_approval: dict[str, int] = {}
    for use in log.uses:
        uses_per_approval[use.approval_id] = uses_per_approval.get(use.approval_id, 0) + 1
    shown = [a for a in log.approvals if args.all or a.is_active(now)]
    active = sum(a.is_active(now) for a in log.approvals)

    print(f"log {log.path}: {len(log.entries)} entries, head {log.head[:12]}, now {utc_iso(now)}")
    print(f"protection: {log.protection}")
    print(f"approvals: {active} active of {len(log.approvals)}")
    if shown:
        rows = [
            [
                a.short_id,
                a.gate,
                a.env,
                a.who,
                utc_iso(a.expires_at),
                "active" if a.is_active(now) else "expired",
                str(uses_per_approval.get(a.id, 0)),
                a.reason,
            ]
            for a in shown
        ]
        header = ["ID", "GATE", "ENV", "WHO", "EXPIRES", "STATUS", "USES", "REASON"]
        _print_table(header, rows)
    elif log.approvals and not args.all:
        print("  (none active; --all shows expired ones)")
    print(f"escalations: {len(log.escalations)}")
    if log.escalations:
        rows = [[str(e.seq), utc_iso(e.at), e.kind, e.detail] for e in log.escalations]
        _print_table(["SEQ", "AT", "KIND", "DETAIL"], rows)
    print(f"actions: {len(log.actions)} (fault switches and clock moves the harness made)")
    print(f"uses: {len(log.uses)}")
    print(f"runs: {len(log.runs)} (one record per gate run)")
    if log.runs:
        last = log.runs[-1]
        print(f"  last: {_printable(str(last.record.get('result')))} at {utc_iso(last.at)}")
    return 0


def _verify(args: argparse.Namespace) -> int:
    try:
        log = ApprovalLog.load(args.log)
    except ApprovalLogError as exc:
        print(f"FAIL: {_one_line(str(exc))}", file=sys.stderr)
        return 1
    note = "" if log.entries else f" (no log file at {args.log} yet)"
    print(f"OK: {len(log.entries)} entries, head {log.head[:12]}{note}; {log.protection}")
    return 0


def _print_table(header: list[str], rows: list[list[str]]) -> None:
    cells = [header, *([_printable(cell) for cell in row] for row in rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    for row in cells:
        print(
            "  "
            + "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )


def _printable(text: str) -> str:
    """Escape control characters (e.g. in a logged escalation detail) for the terminal."""
    return "".join(
        char.encode("unicode_escape").decode("ascii")
        if unicodedata.category(char) in ("Cc", "Cf")
        else char
        for char in text
    )


def _one_line(text: str) -> str:
    return " ".join(text.split()) if "\n" in text or "\r" in text else text


if __name__ == "__main__":
    sys.exit(main())
