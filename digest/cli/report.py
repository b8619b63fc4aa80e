"""`digest report issue PERIOD` and `digest report year YEAR`: a table, or --json / --csv."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from digest.cli.common import fail, find_issue, int_argument, out, store, write_data
from digest.store.db import session_scope

if TYPE_CHECKING:  # loaded by the commands: other commands need not pay for it
    from digest.audience.reports import Report

report_app = typer.Typer(help="Reports: per issue, and per year (Welsh Language Standards).\n\n"
                         "Example: digest report year 2026",
                         no_args_is_help=True)
AsJson = Annotated[bool, typer.Option("--json", help="Machine-readable JSON")]
AsCsv = Annotated[bool, typer.Option("--csv", help="CSV: table,key,cy,en,both,total")]


def _print(report: Report, as_json: bool, as_csv: bool) -> None:
    from rich.table import Table

    from digest.audience import reports

    if as_json and as_csv:
        raise fail("choose one of --json and --csv")
    if as_json:
        write_data([reports.to_json(report), "\n"])
        return
    if as_csv:
        write_data([reports.to_csv(report)])
        return
    out.print(f"{report.kind} report {report.subject}", highlight=False)
    for key, value in report.facts.items():
        out.print(f"  {key}: {value}", highlight=False, markup=False)
    for table in report.tables.values():
        grid = Table(title=table.name)
        for name in ("", "cy", "en", "both", "total"):
            grid.add_column(name, justify="left" if not name else "right")
        for line in table.lines:
            grid.add_row(line.key, str(line.cy), str(line.en), str(line.both), str(line.total))
        out.print(grid)


@report_app.command("issue")
def report_issue(
    issue: Annotated[str, typer.Argument(help="Issue period or id, e.g. 2026-09")],
    as_json: AsJson = False,
    as_csv: AsCsv = False,
) -> None:
    """Sent, failed, bounced, unsubscribes and complaints (30 days), clicks: per language.

    Example: digest report issue 2026-09 --json
    """
    from digest.audience import reports

    settings, engine = store()
    with session_scope(engine) as session:
        report = reports.issue_report(session, settings, find_issue(session, issue))
    _print(report, as_json, as_csv)


@report_app.command("year")
def report_year(
    year: Annotated[int, int_argument(2000, 2999, help="Calendar year, e.g. 2026")],
    as_json: AsJson = False,
    as_csv: AsCsv = False,
) -> None:
    """Subscribers per language at each month's end, sign-ups, shares, issues and reach.

    Example: digest report year 2026 --csv > wls-2026.csv
    """
    from digest.audience import reports

    settings, engine = store()
    with session_scope(engine) as session:
        report = reports.year_report(session, settings, year)
    _print(report, as_json, as_csv)
