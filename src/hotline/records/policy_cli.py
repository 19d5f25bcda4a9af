"""`hotline policy`: check a disclosure policy file, and ask it one question at a time."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from hotline.errors import ConfigError
from hotline.records.policy import Policy
from hotline.service.roles import ROLES

policy_app = typer.Typer(
    help="Disclosure policies: who may see which fields of a case record, and why.",
    no_args_is_help=True,
)
_out = Console(width=None if sys.stdout.isatty() else 120)
_err = Console(stderr=True, soft_wrap=True)  # never break a file:line across lines


@policy_app.command("check")
def check(
    file: Annotated[Path, typer.Argument(help="Policy file (docs/policy.md).")],
) -> None:
    """Check a policy file: a one-line summary, or every problem with file:line (exit 1)."""
    try:
        policy = Policy.load(file)
    except ConfigError as e:
        for p in e.problems:
            _err.print(f"[red]error[/red] {escape(str(p))}")
        n = len(e.problems)
        _err.print(f"{n} problem{'s' if n != 1 else ''} found")
        raise typer.Exit(1) from None
    used = {role for rule in policy.rules for role in rule.roles}
    records = ", ".join(f"{name} ({len(fields)} fields)" for name, fields in policy.records.items())
    n = len(policy.rules)
    _out.print(
        f"[green]ok[/green] {escape(str(file))}: {n} rule{'s' if n != 1 else ''}; "
        f"roles {', '.join(r for r in ROLES if r in used) or 'none'}; "
        f"purposes {', '.join(policy.purposes)}; record types {records}",
        soft_wrap=True,
    )


@policy_app.command("explain")
def explain(
    file: Annotated[Path, typer.Argument(help="Policy file (docs/policy.md).")],
    role: Annotated[str, typer.Option(help=f"The asker's role: {', '.join(ROLES)}.")],
    record: Annotated[str, typer.Option(help="Record type, e.g. case.")],
    field: Annotated[str, typer.Option(help="The field asked about.")],
    purpose: Annotated[str, typer.Option(help="The purpose the asker states.")],
    verification: Annotated[str, typer.Option(help="The caller's verification level.")],
) -> None:
    """May ROLE see FIELD for PURPOSE? One sentence naming the rule that decided.

    Exits 0 whether the answer is yes or no, 1 for a question the policy cannot answer
    (an unknown role, record type, purpose or verification level)."""
    answer = Policy.load(file).explain(role, record, field, purpose, verification)
    _out.print(escape(answer.sentence()), soft_wrap=True)
