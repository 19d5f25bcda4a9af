"""`hotline audit ...`: make a signing key, verify the trail, prove an entry, export it.

Reading the trail (verify, prove, export) is itself recorded: an `audit.read` or
`audit.export` entry by the operating-system user, appended after the reading."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from hotline.errors import StoreUnavailable, TrailBroken

if TYPE_CHECKING:  # SQLAlchemy, Alembic and cryptography: imported where used (start-up time)
    from sqlalchemy import Engine

    from hotline.records import audit

audit_app = typer.Typer(
    help="The tamper-evident audit trail: keygen, verify, prove, export (docs/audit.md).",
    no_args_is_help=True,
)
out = Console(width=None if sys.stdout.isatty() else 120)
err = Console(stderr=True, soft_wrap=True)
PROGRESS_FROM = 50_000  # entries: fewer are checked in about a second, no bar needed

Database = Annotated[
    str | None,
    typer.Option("--database", help="Database URL [default: the settings' HOTLINE_DATABASE_URL]."),
]
Key = Annotated[
    str | None,
    typer.Option("--key", help="The verifier key [default: HOTLINE_AUDIT_VERIFIER]."),
]


def _engine(database: str | None) -> tuple[Engine, str]:
    from hotline.store.db import connect, require_current

    if database is None:
        from hotline.service.settings import load_settings

        database = load_settings().database_url
    engine = connect(database, create=False)
    require_current(engine, database)
    return engine, database


def _read_entry(action: str, **details: str | int) -> audit.Entry:
    from hotline.records import audit

    return audit.Entry(at=time.time(), actor=audit.os_actor(), role="cli", action=action,
                       object="audit-trail", details=details)  # fmt: skip


def _record(engine: Engine, url: str, entry: audit.Entry) -> int:
    from sqlalchemy.exc import SQLAlchemyError

    from hotline.records import audit
    from hotline.store.db import reason, redacted

    try:
        with engine.begin() as c:
            return audit.append(c, entry)
    except SQLAlchemyError as e:
        raise StoreUnavailable(
            f"cannot record the reading in the audit trail of {redacted(url)}: {reason(e, url)}"
        ) from None


@audit_app.command("keygen")
def keygen(
    name: Annotated[
        str, typer.Option(help="The log's name, e.g. hotline.example.org/audit (no spaces, no +).")
    ],
) -> None:
    """Print a new signing key (for HOTLINE_AUDIT_KEY; keep it secret, like a password) and
    its verifier key (for auditors, --key and HOTLINE_AUDIT_VERIFIER)."""
    from hotline.records.checkpoint import Signer

    signer = Signer.generate(name)
    typer.echo(signer.private_key())
    typer.echo(str(signer.verifier))
    err.print(
        "The first line is the signing key: set HOTLINE_AUDIT_KEY to it where the server "
        "runs, nowhere else. The second is the verifier key: give it to your auditors."
    )


@audit_app.command("verify")
def verify_command(
    database: Database = None,
    key: Key = None,
    sink: Annotated[
        Path | None,
        typer.Option(help="The checkpoints' sink file [default: HOTLINE_AUDIT_SINK]."),
    ] = None,
    no_sink: Annotated[
        bool, typer.Option("--no-sink", help="Do not compare with a sink (none is kept).")
    ] = False,
) -> None:
    """Check the hash chain, every checkpoint's signature and root, their consistency and
    the sink's copies; name the first broken entry or checkpoint (exit status 1)."""
    from sqlalchemy.exc import SQLAlchemyError

    from hotline.records import audit
    from hotline.store.db import reason, redacted

    verifier = audit.verifier_from(key)
    the_sink = None if no_sink else audit.FileSink(sink) if sink else audit.sink_from_environment()
    engine, url = _engine(database)
    try:
        with engine.connect() as c:
            total = audit.entry_count(c)
            if err.is_terminal and total >= PROGRESS_FROM:
                with Progress(
                    TextColumn("verifying the audit trail"), BarColumn(),
                    TextColumn("{task.completed:,}/{task.total:,} entries"), TimeElapsedColumn(),
                    console=err, transient=True,
                ) as bar:  # fmt: skip
                    task = bar.add_task("", total=total)
                    report = audit.verify(
                        c, verifier, the_sink, lambda done, _: bar.update(task, completed=done)
                    )
            else:
                report = audit.verify(c, verifier, the_sink)
    except SQLAlchemyError as e:
        raise StoreUnavailable(f"cannot read {redacted(url)}: {reason(e, url)}") from None
    first = report.first
    _record(engine, url, _read_entry("audit.read", entries=report.entries,
                                     result="broken" if first else "intact"))  # fmt: skip
    if first is not None:
        others = len(report.problems) - 1
        more = f" ({others} more problem{'s' if others != 1 else ''} after it)" if others else ""
        raise TrailBroken(f"the audit trail is broken: {first.message}{more}")
    sink_note = f", {report.sink_only} only in the sink" if report.sink_only else ""
    out.print(
        f"intact: {report.entries:,} entries, {report.checkpoints:,} checkpoints{sink_note} "
        f"({escape(redacted(url))})"
    )


@audit_app.command("prove")
def prove_command(
    seq: Annotated[int, typer.Argument(help="The entry's sequence number (from 1).")],
    database: Database = None,
    key: Key = None,
) -> None:
    """Print, as JSON, entry N with its inclusion proof against the latest checkpoint,
    checkable offline (docs/audit.md)."""
    from hotline.records import audit

    verifier = audit.verifier_from(key)
    engine, url = _engine(database)
    with engine.connect() as c:
        document = audit.prove(c, seq, verifier)
    _record(engine, url, _read_entry("audit.read", from_seq=seq, to_seq=seq))
    typer.echo(json.dumps(document, indent=1, ensure_ascii=False))


@audit_app.command("export")
def export_command(
    out_dir: Annotated[Path, typer.Argument(help="A directory to write the export into.")],
    database: Database = None,
) -> None:
    """Write the entries (JSON lines), the signed checkpoints and the consistency proofs
    between them into a directory, for an auditor."""
    from hotline.records import audit

    engine, url = _engine(database)
    with engine.connect() as c:
        entries, cps = audit.export(c, out_dir)
    _record(engine, url, _read_entry("audit.export", entries=entries, format="jsonl"))
    err.print(f"exported {entries:,} entries and {cps:,} checkpoints to {escape(str(out_dir))}")
