"""The drawing-review commands: `cim review verify FILE.pdf`, `cim review route DRAWING_TYPE USCC`,
`cim review member USCC USER`; `cim review [run] FILE --project CODE ...` is added by the `cim` command."""

from __future__ import annotations

from pathlib import Path

import typer
from typer._click import Context  # typer vendors click: its groups take this Context, not click's
from typer.core import TyperGroup

from core.console import emit
from core.errors import UserError


class _RunByDefault(TyperGroup):
    """`cim review FILE ...` stays `cim review run FILE ...`: a first word that is no command is a file."""

    def parse_args(self, ctx: Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


app = typer.Typer(
    cls=_RunByDefault,
    help="Drawing review: review a model, verify a sealed report, route drawing types to agencies.",
    no_args_is_help=True,
)


@app.command("verify")
def verify(
    file: Path = typer.Argument(..., help="A sealed review report (.pdf)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Check a sealed report's signature: intact (no byte changed), trusted, and who signed it."""
    from bim_ingest.review.seal import verify_pdf

    if not file.is_file():
        raise UserError(f"{file} does not exist")
    result = verify_pdf(file.read_bytes())
    emit(result, as_json)
    if not result["valid"]:
        raise typer.Exit(1)


@app.command("route")
def route(
    drawing_type: str = typer.Argument(..., help="building, fire, civil_defence, lightning or health_telecom."),
    agency: str = typer.Argument(..., help="USCC of the review agency."),
    due_days: int | None = typer.Option(None, "--due-days", help="Review period (default: the rule set's)."),
) -> None:
    """Route a drawing type to the review agency that reviews it."""
    from bim_ingest.review.submissions import set_route

    set_route(drawing_type, agency, due_days)
    emit({"drawing_type": drawing_type, "agency": agency, "due_days": due_days}, False)


@app.command("member")
def member(
    agency: str = typer.Argument(..., help="USCC of the review agency."),
    username: str = typer.Argument(..., help="A user who reviews for it."),
    role: str = typer.Option("reviewer", "--role", help="reviewer or chief."),
) -> None:
    """Add a reviewer to a review agency."""
    from bim_ingest.review.submissions import add_member

    add_member(agency, username, role)
    emit({"agency": agency, "username": username, "role": role}, False)
