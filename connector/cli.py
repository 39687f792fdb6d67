"""The `leadsync` command. Commands only parse, call and print."""

from __future__ import annotations

import json
import os
import shutil
import signal
import textwrap
import threading
from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from connector import config as configuration
from connector.errors import ConfigError, LeadsyncError
from connector.logs import configure

app = typer.Typer(
    help="leadsync hands qualified leads from marketing to the CRM and sales' verdicts back.\n\n"
         "Start with `leadsync sync --once`: on the shipped config.toml it runs against the "
         "embedded marketing store and a local Salesforce sandbox.",
    no_args_is_help=True, add_completion=False, rich_markup_mode=None,
    pretty_exceptions_show_locals=False)  # a bug's traceback must not print a password
EXIT_SKIPPED = 3
"""Another run holds the pipeline lock: this one did nothing (not a failure)."""
EXIT_RESERVE = 75
"""Stopped at the CRM's API reserve (sysexits' EX_TEMPFAIL): the next run resumes."""
EXIT_INTERRUPTED = 130
"""A second SIGINT/SIGTERM stopped the run at once (128 + SIGINT, as shells report)."""


class _Stderr(Console):
    """What the commands tell the operator on stderr: rich text, or under --log-json one
    JSON log line a message (red: error, yellow: warning, else info), so that every
    line there parses, the CLI's own ("run failed: …") as the libraries'."""

    json = False

    def print(self, *objects: Any, style: Any = None, **kwargs: Any) -> None:
        if not self.json:
            super().print(*objects, style=style, **kwargs)
            return
        import structlog

        text = " ".join(o.plain if isinstance(o, Text) else str(o) for o in objects)
        level = {"red": "error", "yellow": "warning"}.get(str(style), "info")
        getattr(structlog.get_logger("leadsync.cli"), level)(text)


# Data never goes through rich's markup: a value holding "[/x]" is printed as it is.
# Colour comes from style= only.
out = Console(soft_wrap=True, markup=False)
err = _Stderr(stderr=True, soft_wrap=True, markup=False)

ConfigOpt = Annotated[Path | None, typer.Option(
    "--config", "-c", help="config.toml to use [default: $LEADSYNC_CONFIG, else ./config.toml]",
    show_default=False)]
LogJsonOpt = Annotated[bool, typer.Option("--log-json", help="Log JSON lines instead of text.")]
VerboseOpt = Annotated[bool, typer.Option("--verbose", "-v", help="Log at debug level.")]


def _setup(log_json: bool = False, verbose: bool = False) -> None:
    configure(json=log_json, level="debug" if verbose else "info")
    err.json = log_json


CHOSEN: dict[str, str | None] = {"pipeline": None}
"""The pipeline --pipeline named (app's callback), for every command's _load."""


@app.callback()
def _options(pipeline: Annotated[str | None, typer.Option(
        "--pipeline", "-p", envvar=configuration.PIPELINE_ENV, show_default=False,
        help="The pipeline of config.toml's [pipelines.NAME] to act on; `sync`, "
             "`check`, `migrate`, `import` and `serve` take every pipeline (the marketing "
             "store they share) without it.")] = None) -> None:
    CHOSEN["pipeline"] = pipeline
    err.json = False  # until a command's --log-json says otherwise


def _load(path: Path | None) -> configuration.Config:
    try:
        return configuration.load(path, CHOSEN["pipeline"])
    except ConfigError as exc:
        err.print(f"{exc}", style="red", highlight=False)
        raise typer.Exit(2) from None


def _load_all(path: Path | None) -> dict[str, configuration.Config]:
    """The chosen pipeline, else every pipeline of the file, by name."""
    if CHOSEN["pipeline"] is not None:
        chosen = _load(path)
        return {chosen.pipeline: chosen}
    try:
        return configuration.load_all(path)
    except ConfigError as exc:
        err.print(f"{exc}", style="red", highlight=False)
        raise typer.Exit(2) from None


def _state(cfg: configuration.Config) -> Any:
    """The state store, or one line naming state.url and why it cannot be opened."""
    from connector.wiring import open_state

    try:
        return open_state(cfg)
    except ConfigError as exc:
        err.print(str(exc), style="red", highlight=False)
        raise typer.Exit(1) from None


@app.command()
def init(config: ConfigOpt = None,
         force: Annotated[bool, typer.Option(help="Overwrite an existing file.")] = False) -> None:
    """Write a commented config.toml to start from."""
    target = configuration.config_path(config)
    if target.exists() and not force:
        err.print(f"{target} exists; use --force to overwrite it")
        raise typer.Exit(1)
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(configuration.TEMPLATE, target)
    out.print(f"wrote {target}; edit the [crm.*] section to go live, then `leadsync check`")


@app.command()
def check(config: ConfigOpt = None, log_json: LogJsonOpt = False,
          verbose: VerboseOpt = False) -> None:
    """Validate config.toml and reach every system it names."""
    _setup(log_json, verbose)

    from connector.checks import run_checks

    pipelines = _load_all(config)
    failed = False
    for cfg in pipelines.values():
        named = f" (pipeline {cfg.pipeline})" if len(pipelines) > 1 else ""
        findings = run_checks(cfg)
        for finding in findings:
            mark, colour = ("✗", "red") if finding.severity == "error" else ("!", "yellow")
            err.print(Text.assemble((mark, colour), f" {finding}{named}"), highlight=False)
        errors = sum(f.severity == "error" for f in findings)
        warnings = len(findings) - errors
        if errors:
            err.print(Text.assemble((f"{errors} error(s)", "red"),
                                    f", {warnings} warning(s){named}"), highlight=False)
            failed = True
            continue
        noted = f" ({warnings} warning(s) above)" if warnings else ""
        out.print(f"✓ {cfg.source}{named}: configuration valid, state store, marketing "
                  f"store and {cfg.crm.adapter} reachable, mapped fields exist{noted}")
    first = next(iter(pipelines.values()))
    if first.workers.broker is not None:  # the queue the daemon and the workers share
        try:
            _sender(first).close()
        except LeadsyncError as exc:
            err.print(Text.assemble(("✗", "red"), f" {exc}"), highlight=False)
            failed = True
        else:
            out.print(f"✓ [workers] broker reachable ({first.workers.kind}), queue "
                      f"{first.workers.queue!r}")
    if failed:
        raise typer.Exit(1)


@app.command("import")
def import_(file: Annotated[Path, typer.Argument(help="A .csv or .jsonl file of leads.",
                                                 exists=True, dir_okay=False)],
            config: ConfigOpt = None, log_json: LogJsonOpt = False) -> None:
    """Load leads and activities into the embedded marketing store."""
    _setup(log_json)
    from connector.adapters.marketing_store import EmbeddedMarketingStore

    pipelines = _load_all(config)
    stores = {cfg.resolve_url(cfg.marketing.url) for cfg in pipelines.values()}
    if len(stores) > 1:
        err.print(f"the pipelines {', '.join(pipelines)} import into different marketing "
                  "stores: say which with --pipeline NAME", style="red", highlight=False)
        raise typer.Exit(2)
    cfg = next(iter(pipelines.values()))  # one marketing store: any pipeline's
    store = EmbeddedMarketingStore(cfg.resolve_url(cfg.marketing.url),
                                   role_mailboxes=cfg.matching.email.role_mailboxes)
    try:
        report = store.import_file(file)
    except ValueError as exc:
        err.print(f"{exc}", style="red")
        raise typer.Exit(1) from None
    finally:
        store.close()
    out.print(f"{report.source}: {report.rows} rows → {report.created} new leads, "
              f"{report.updated} updated, {report.unchanged} unchanged, "
              f"{report.activities} activities, {len(report.rejected)} refused")
    for rejection in report.rejected:
        out.print(f"  refused {rejection}", highlight=False)


@app.command()
def sync(config: ConfigOpt = None,
         once: Annotated[bool, typer.Option("--once", help="Run one cycle and exit.")] = False,
         dry_run: Annotated[bool, typer.Option(
             "--dry-run", help="Show what would be written; write nothing.")] = False,
         retry_dead_letters: Annotated[bool, typer.Option(
             "--retry-dead-letters",
             help="Also send again every lead the CRM refused before (after a fix in the CRM)."
         )] = False,
         log_json: LogJsonOpt = False, verbose: VerboseOpt = False) -> None:
    """Run the sync cycle once (--once) or on the configured schedule (with [workers]
    broker set, the schedule only: `leadsync worker` runs the cycles)."""
    _setup(log_json, verbose)
    from connector.scheduler import run_forever
    from connector.stopping import Stop, on_signals

    pipelines = _load_all(config)
    stop = Stop()
    if not once and not dry_run:
        first = next(iter(pipelines.values()))
        console = _console(pipelines, first.console.host, first.console.port) \
            if first.console.port is not None else None
        if console is not None:
            console.start()
        send = None
        try:
            send = _sender(first) if first.workers.broker is not None else None
            with on_signals(stop):
                run_forever(pipelines, stop, send)
        except LeadsyncError as exc:  # at start: a login refused, a secret not set
            err.print(f"{exc}", style="red", highlight=False)
            raise typer.Exit(1) from None
        finally:
            if console is not None:
                console.close()
            if send is not None:
                send.close()
        return
    codes = []
    with on_signals(stop):
        for cfg in pipelines.values():
            if stop.requested:
                break
            if len(pipelines) > 1:
                out.print(f"pipeline {cfg.pipeline}", style="bold", highlight=False)
            codes.append(_sync_once(cfg, dry_run, retry_dead_letters, stop,
                                    drawn=err.is_terminal and not log_json))
            if codes[-1] == EXIT_INTERRUPTED:
                break
    worst = next((code for code in (EXIT_INTERRUPTED, 1, EXIT_RESERVE, EXIT_SKIPPED)
                  if code in codes), 0)
    if worst:
        raise typer.Exit(worst)


def _sender(cfg: configuration.Config) -> Any:
    """[workers] broker set: the daemon sends each tick to the workers' queue, checked now."""
    from connector.workers import Sender

    _needs_dramatiq()
    sender = Sender(cfg)
    sender.check()
    return sender


def _needs_dramatiq() -> None:
    import importlib.util

    if importlib.util.find_spec("dramatiq") is None:
        err.print("[workers] broker needs Dramatiq: pip install 'leadsync[dramatiq]'",
                  style="red", highlight=False)
        raise typer.Exit(1)


@app.command()
def worker(config: ConfigOpt = None,
           threads: Annotated[int | None, typer.Option(
               min=1, max=64, show_default=False,
               help="Cycles this process runs side by side [default: one per pipeline].")
           ] = None,
           log_json: LogJsonOpt = False, verbose: VerboseOpt = False) -> None:
    """Run the cycles `leadsync sync` sends to [workers] broker (RabbitMQ or Redis), on
    this machine, until SIGTERM or Ctrl-C."""
    _setup(log_json, verbose)
    from connector.stopping import Stop, on_signals

    if CHOSEN["pipeline"] is not None:
        err.print("`leadsync worker` runs every pipeline of the file from one queue; "
                  "--pipeline (or $LEADSYNC_PIPELINE) does not apply", style="red",
                  highlight=False)
        raise typer.Exit(2)
    pipelines = _load_all(config)
    first = next(iter(pipelines.values()))
    if first.workers.broker is None:
        err.print(f"{first.source}: [workers] broker is not set: `leadsync sync` runs the "
                  "cycles itself (docs/operations.md, \"Beyond one machine\")", style="red",
                  highlight=False)
        raise typer.Exit(2)
    _needs_dramatiq()
    from connector.workers import work

    stop = Stop()
    try:
        with on_signals(stop):
            work(pipelines, stop, threads=threads or len(pipelines))
    except KeyboardInterrupt:
        err.print("stopped at once (a second signal): runs in progress are marked "
                  "abandoned by the next, and their messages go to another worker",
                  style="red", highlight=False)
        raise typer.Exit(EXIT_INTERRUPTED) from None
    except LeadsyncError as exc:  # at start: the broker out of reach, a secret not set
        err.print(f"{exc}", style="red", highlight=False)
        raise typer.Exit(1) from None


def _sync_once(cfg: configuration.Config, dry_run: bool, retry_dead_letters: bool,
               stop: Any, *, drawn: bool = False) -> int:
    """One pipeline's cycle, printed; its exit code. ``drawn``: stderr is a terminal
    (and the logs are text): a progress bar runs below the log lines."""
    from contextlib import nullcontext

    from connector.progress import SILENT
    from connector.state import RunLocked
    from connector.wiring import run_once

    try:
        with _RunBar() if drawn else nullcontext(SILENT) as progress:
            summary = run_once(cfg, dry_run=dry_run, retry_dead_letters=retry_dead_letters,
                               stop=stop, progress=progress)
    except RunLocked as exc:
        err.print(str(exc), style="yellow", highlight=False)
        return EXIT_SKIPPED
    except KeyboardInterrupt as exc:
        err.print(f"run interrupted: {exc or 'a second signal'}; the run is marked "
                  "interrupted and the next one goes on from the last finished batch",
                  style="red", highlight=False)
        return EXIT_INTERRUPTED
    except LeadsyncError as exc:
        err.print(f"{exc}", style="red", highlight=False)
        return 1
    if dry_run:
        for plan in summary.planned:
            out.print_json(data=plan)
    c = summary.counts
    verb = "would be " if dry_run else ""
    out.print(f"run {summary.run_id}{' (dry run)' if dry_run else ''}: {c['read']} leads read, "
              f"{c['qualified']} qualified, {c['created']} {verb}created, {c['updated']} "
              f"{verb}updated, {c['unchanged']} unchanged, {c['refused']} refused, "
              f"{c['fed_back']} statuses {verb}fed back", highlight=False)
    if summary.rescored:
        out.print(f"  {summary.rescored} leads never handed off were judged again: "
                  "[scoring] changed since they were read", highlight=False)
    if summary.one_field_short:
        out.print(f"  {summary.one_field_short} leads would qualify but for one required "
                  "field (`leadsync gaps` lists them)", highlight=False)
    if c["not_written"]:
        out.print(f"  {c['not_written']} changes not written: their CRM records were converted "
                  "or deleted by sales (`leadsync explain` says which)", highlight=False)
    if c["conflicts"]:
        out.print(f"  {c['conflicts']} two-way fields changed on both sides: the newer change "
                  "won, the other is kept as a conflict event (`leadsync explain`)",
                  highlight=False)
    if c["matched"] or c["held"]:
        held = (f"{c['held']} would be held for review (a real run asks `leadsync review`)"
                if dry_run else f"{c['held']} held for review (`leadsync review`)")
        out.print(f"  {c['matched']} {verb}matched an earlier CRM record (updated, not "
                  f"created); {held}", highlight=False)
    for lead, reason in summary.refused:
        out.print(f"  refused {lead}: {reason}", highlight=False)
    for warning in summary.warnings[:20]:
        out.print(f"  warning {warning}", highlight=False)
    if len(summary.warnings) > 20:
        out.print(f"  … and {len(summary.warnings) - 20} more warnings")
    if summary.status == "stopped" and summary.signal:  # asked to stop: it did, cleanly
        err.print(f"run stopped: {summary.error}", style="yellow", highlight=False)
        return 0
    if summary.status == "stopped":  # sysexits' EX_TEMPFAIL: fine, try again later
        err.print(f"run stopped: {summary.error}", style="yellow", highlight=False)
        return EXIT_RESERVE
    if summary.status != "ok":
        err.print(f"run {summary.status}: {summary.error}", style="red", highlight=False)
        return 1
    return 0




class _RunBar:
    """`sync --once` on a terminal: the run's step, leads read of how many, written, the
    rate and the time left, redrawn below the log lines and gone when the run ends."""

    def __init__(self, console: Console = err) -> None:
        from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn

        self.bar = Progress(SpinnerColumn(), TextColumn("{task.description}", markup=False),
                            BarColumn(bar_width=12), TextColumn("{task.fields[done]}",
                                                                markup=False),
                            console=console, transient=True)
        self.task = self.bar.add_task("opening the stores", total=None, done="")

    def __enter__(self) -> _RunBar:
        self.bar.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.bar.stop()

    def step(self, name: str) -> None:
        self.bar.update(self.task, description=name)

    def expect(self, leads: int | None) -> None:
        self.bar.update(self.task, total=leads or None, completed=0,
                        done=f"0/{leads:,} leads" if leads else "")

    def batch(self, tally: Any) -> None:
        total = max(tally.expected, tally.read) if tally.expected else None
        parts = [f"{tally.read:,}/{total:,} leads" if total else f"{tally.read:,} leads",
                 f"{tally.written:,} written"]
        if tally.per_second is not None:
            parts.append(f"{tally.per_second:,.0f}/s")
        if tally.seconds_left is not None:
            parts.append(f"{_duration(tally.seconds_left)} left")
        self.bar.update(self.task, total=total, completed=tally.read, done=", ".join(parts))


def _duration(seconds: float) -> str:
    minutes, left = divmod(round(seconds), 60)
    return f"{minutes} min {left} s" if minutes else f"{left} s"

@app.command()
def status(config: ConfigOpt = None,
           as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
           limit: Annotated[int, typer.Option(help="How many runs to show.")] = 10) -> None:
    """Last runs, their counts, and the dead letters waiting."""
    cfg = _load(config)
    store = _state(cfg)
    try:
        runs = [run.as_dict() for run in store.runs(limit)]
        letters = [letter.as_dict() for letter in store.dead_letters()]
        conflicts = [{"run": run["id"], "lead": e.marketing_id, "detail": e.detail}
                     for run in runs if run["conflicts"]
                     for e in store.events(run["id"], "conflict")]
        owed = [{"lead": row.marketing_id, "record": row.crm_id, "attempts": row.attempts,
                 "last_error": row.last_error} for row in store.tasks_owed(cfg.crm.adapter)]
    finally:
        store.close()
    if as_json:
        typer.echo(json.dumps({"runs": runs, "dead_letters": letters, "conflicts": conflicts,
                               "tasks_owed": owed}, indent=2))
        return
    out.print(_runs_table(runs, out.width))
    out.print(f"{len(letters)} dead letters waiting")
    for letter in letters:
        fields = ", ".join(letter["fields"])
        out.print(_fit(f"  lead {letter['marketing_id']} → {letter['crm']} "
                       f"{letter['crm_object']}: {letter['error_code']}: {letter['message']} "
                       f"(fields: {fields}) (attempts {letter['attempts']})"), highlight=False)
    if owed:
        out.print(_fit(f"{len(owed)} follow-up tasks owed to reps (the next run makes them, "
                       f"never twice); the last error: {owed[0]['last_error'] or 'none yet'}",
                       indent=2), highlight=False, markup=False)
    if conflicts:  # the table has no column for them: which runs is said here
        out.print(_fit(f"{len(conflicts)} conflicts in these runs (both sides changed a "
                       "two-way field; the newer won):", indent=2))
        for conflict in conflicts[:20]:
            out.print(_fit(f"  run {conflict['run']}, lead {conflict['lead']}: "
                           f"{conflict['detail']}"), highlight=False)


RUN_COUNTS = {"read": "read", "qualified": "qualified", "created": "created",
              "updated": "updated", "refused": "refused", "fed_back": "fed back"}
"""`leadsync status`'s count columns (conflicts are listed under the table)."""


def _runs_table(runs: list[dict[str, Any]], width: int) -> Table:
    """The last runs, whole within ``width``: each run's start on one line, else on two
    (day, time), the header "fed back" on two if still needed; a dry run says so under its
    status. Cut to fit nothing: a word cut short ("d…") says nothing."""
    headers = ["run", "started", "status", *RUN_COUNTS.values()]
    rows = [[str(run["id"]), run["started_at"][5:16].replace("T", " "),
             run["status"] + ("\ndry run" if run["dry_run"] else ""),
             *(str(run[key]) for key in RUN_COUNTS)] for run in runs]

    def wide() -> int:  # every column as wide as its widest line, two spaces between
        return sum(max(len(line) for cell in column for line in cell.splitlines())
                   for column in zip(headers, *rows, strict=True)) + 2 * (len(headers) - 1)

    if wide() > width:
        for row in rows:
            row[1] = row[1].replace(" ", "\n")
    if wide() > width:
        headers[-1] = "fed\nback"
    table = Table(title="last runs (times in UTC)", title_justify="left", box=box.SIMPLE_HEAD,
                  show_edge=False, pad_edge=False, padding=(0, 1, 0, 0))
    for number, name in enumerate(headers):
        table.add_column(name, no_wrap=True, justify="left" if 0 < number < 3 else "right")
    for row in rows:
        table.add_row(*row)
    return table


def _fit(text: str, indent: int = 4) -> str:
    """``text`` broken between words to the terminal's width, later lines indented; left
    whole where no width is known (a pipe without $COLUMNS): one fact a line for grep."""
    if not (out.is_terminal or os.environ.get("COLUMNS")):
        return text
    return textwrap.fill(text, width=out.width, subsequent_indent=" " * indent,
                         break_long_words=False, break_on_hyphens=False)


@app.command()
def index(config: ConfigOpt = None,
          rebuild: Annotated[bool, typer.Option(
              "--rebuild", help="Empty the candidate index: the next sync reads the CRM's "
                                "people and accounts again in bulk.")] = False,
          as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """The local candidate index of the CRM's people and accounts that matching asks."""
    from connector.db import sqlite_file
    from connector.matching import Matcher
    from connector.matching.index import CandidateIndex

    cfg = _load(config)
    file = sqlite_file(cfg.resolve_url(cfg.state.url))
    if file is not None and not file.exists():
        err.print(f"no state database at {file} (state.url): "
                  "nothing has been synced with this config yet", style="red",
                  highlight=False)
        raise typer.Exit(1)
    store = _state(cfg)
    try:
        held = CandidateIndex(store.engine, cfg.crm.adapter, Matcher(cfg.matching))
        stream = f"index:{cfg.crm.adapter}:{cfg.mapping.object}"
        if rebuild:
            held.clear()
            store.drop_cursor(stream)
        cursor = store.cursor(stream)
        sizes, objects = held.sizes(), held.sizes(by="crm_object")
    finally:
        store.close()
    facts = {"crm": cfg.crm.adapter, "records": sizes, "objects": objects,
             "read_until": cursor.value.isoformat() if cursor else None}
    if as_json:
        typer.echo(json.dumps(facts, indent=2))
        return
    counts = ", ".join(f"{name} {n:,}" for name, n in sorted(objects.items())) or "empty"
    when = (f"in step with the CRM up to {cursor.value:%Y-%m-%d %H:%M:%S} UTC" if cursor
            else "filled by a bulk read on the next sync")
    out.print(f"candidate index ({cfg.crm.adapter}): {counts}; {when}",
              markup=False, highlight=False)


@app.command()
def review(
    review_id: Annotated[int | None, typer.Argument(
        help="The review to decide (its number in the list).", show_default=False)] = None,
    choice: Annotated[str | None, typer.Argument(
        help="same: update the CRM record with the lead; different: create a new record.",
        show_default=False)] = None,
    config: ConfigOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
    show_all: Annotated[bool, typer.Option("--all", help="Decided ones too.")] = False,
) -> None:
    """Possible duplicates held back from the CRM: both records side by side.

    `leadsync review` lists them; `leadsync review 3 same` (or `different`)
    decides one, and the next run writes the lead accordingly. A decision is
    remembered: the pair is never asked about again.
    """
    cfg = _load(config)
    store = _state(cfg)
    try:
        if review_id is not None:
            if choice not in ("same", "different"):
                err.print("say `same` or `different` after the review number", highlight=False)
                raise typer.Exit(2)
            try:
                decided = store.reviews.decide(review_id, choice)
            except LookupError as exc:
                err.print(str(exc), highlight=False)
                raise typer.Exit(2) from None
            action = (f"update {decided.kind} {decided.crm_id}" if choice == "same"
                      else "create a new record")
            out.print(f"review {review_id}: {choice}; the next run will {action} for lead "
                      f"{decided.marketing_id}", highlight=False)
            return
        items = store.reviews.listing(status=None if show_all else "pending", limit=1000)
    finally:
        store.close()
    rows = [{"id": r.id, "lead_id": r.marketing_id, "lead": json.loads(r.lead),
             "crm_object": r.crm_object, "crm_id": r.crm_id, "kind": r.kind,
             "record": json.loads(r.record), "score": r.score, "reason": r.reason,
             "status": r.status} for r in items]
    if as_json:
        typer.echo(json.dumps(rows, indent=2, default=str))
        return
    if not rows:
        out.print("no possible duplicates waiting for review")
        return
    for row in rows:
        table = Table(title=f"review {row['id']} · score {row['score']:.2f} · {row['status']}",
                      box=box.SIMPLE_HEAD, title_justify="left", pad_edge=False)
        table.add_column("field")
        table.add_column(f"lead {row['lead_id']} (marketing)")
        table.add_column(f"lead {row['crm_id']} of the same run (marketing)"
                         if row["kind"] == "link" else f"{row['kind']} {row['crm_id']} (CRM)")
        for name in dict.fromkeys([*row["lead"], *row["record"]]):
            table.add_row(name, str(row["lead"].get(name) or ""),
                          str(row["record"].get(name) or ""))
        out.print(table)
        out.print(f"  why: {row['reason']}", highlight=False)
    out.print("decide with `leadsync review ID same` or `leadsync review ID different`")


@app.command()
def explain(lead: Annotated[str, typer.Argument(help="Marketing lead id or email address.")],
            config: ConfigOpt = None,
            as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False
            ) -> None:
    """Why a lead is where it is: its score, the match decision, every owner it was
    given and why, and what each run did with it."""

    from connector.explain import UnknownLead
    from connector.explain import explain as explain_lead

    cfg = _load(config)
    try:
        found = explain_lead(cfg, lead)
    except (UnknownLead, LeadsyncError) as exc:
        err.print(str(exc), highlight=False)
        raise typer.Exit(1) from None
    if as_json:
        typer.echo(json.dumps(found.to_dict(), indent=2, default=str))
        return
    def say(line: str, indent: int = 11) -> None:  # under the value, past "  routing: "
        out.print(_fit(line, indent), highlight=False)

    say(f"lead {found.lead_id}" + (f" ({found.email})" if found.email else ""), 2)
    say(f"  score:   {found.score or 'not in the marketing store any more'}")
    say(f"  match:   {found.match}")
    for record in found.crm:
        say(f"  crm:     {record['crm']} {record['object']} {record['id']}"
            + (f", status {record['status']}" if record["status"] else "")
            + (", converted" if record["converted"] else ""))
    if not found.routing:
        say("  routing: no owner assigned by leadsync")
    for row in found.routing:
        say(f"  routing: {row['at'][:16].replace('T', ' ')} → {_owner(row)}, rule "
            f"{row['rule']}: {row['reason']}")
    for row in found.stages:
        stayed = f", {row['stayed_hours']} h there" if row["stayed_hours"] is not None else ""
        say(f"  stage:   {row['at'][:16].replace('T', ' ')} {row['from'] or '(none)'} → "
            f"{row['to']}" + (f" by {row['who']}" if row["who"] else "")
            + (f" ({row['crm_status']})" if row["crm_status"] else "") + stayed
            + (f": {row['reason']}" if row["reason"] else ""))
    for clock in found.clocks:
        parts = [f"BREACHED {clock['breached_at'][:16].replace('T', ' ')}"
                 if clock["breached_at"] else "",
                 f"met {clock['met_at'][:16].replace('T', ' ')}" if clock["met_at"] else ""]
        state = ", ".join(p for p in parts if p) or (
            "closed" if clock.get("closed") else "open")  # a late touch: both
        say(f"  sla:     {clock['clock']} due {clock['due_at'][:16].replace('T', ' ')}, "
            f"{state}" + (f": {clock['evidence']}" if clock["evidence"] else ""))
    if found.events:
        out.print("  events:")
    for event in found.events:
        say(f"    {event['at'][:16].replace('T', ' ')} run {event['run']} "
            f"{event['kind']}: {event['detail']}", 6)


def _owner(row: dict[str, Any]) -> str:
    """An owner of the routing history by name, the CRM id in brackets: a rep's name
    from [routing.reps], else the name the CRM gave when it was listed, else the id once."""
    if not row["owner_id"]:
        return "nobody"
    if row["owner"] and row["owner"] != row["owner_id"]:
        return f"{row['owner']} ({row['owner_id']})"
    return row["owner_id"]


@app.command()
def reroute(lead: Annotated[str, typer.Argument(help="Marketing lead id or email address.")],
            why: Annotated[str, typer.Option(help="Why, for the history and the reason.")]
            = "re-routed by hand",
            config: ConfigOpt = None) -> None:
    """Give a handed-off lead to the next rep of its pool and set the owner in the CRM.

    The current owner is left out; the routing history keeps every owner the lead
    had (`leadsync explain` shows them)."""

    from connector.wiring import reroute_once

    cfg = _load(config)
    try:
        summary, done = reroute_once(cfg, lead, why=why)
    except LeadsyncError as exc:
        err.print(f"{str(exc)}", style="red", highlight=False)
        raise typer.Exit(1) from None
    for item in done:
        verb = "now owned by" if item.written else "stays with"
        owner = item.owner_id if item.written else (item.previous or "its current owner")
        out.print(f"lead {item.lead_id} {verb} {owner}: {item.reason}", highlight=False)
    for name, reason in summary.refused:
        out.print(f"  refused {name}: {reason}", highlight=False)
    for warning in summary.warnings:
        out.print(f"  warning {warning}", highlight=False)
    if summary.status != "ok":
        err.print(f"{summary.error or summary.status}", style="red", highlight=False)
        raise typer.Exit(1)
    if not done or summary.refused:
        raise typer.Exit(1)


@app.command()
def process(config: ConfigOpt = None,
            as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False
            ) -> None:
    """The lead process of config.toml: stages, their team, CRM statuses, longest stay
    and what a breach does; the hand-off stage, recycling and the SLA clocks."""
    cfg = _load(config)
    statuses: dict[str, list[str]] = {}
    for status, stage in cfg.status_mapping.to_marketing.items():
        statuses.setdefault(stage, []).append(status)
    stages = [{"stage": name, "team": stage.team, "crm_statuses": statuses.get(name, []),
               "max": str(stage.max) if stage.max else None, "on_breach": stage.on_breach,
               "final": stage.final} for name, stage in cfg.process.stages.items()]
    clocks = [{"clock": name, "within": str(clock.within),
               "warn_before": str(clock.warn_before) if clock.warn_before else None,
               "on_breach": clock.on_breach} for name, clock in cfg.sla.clocks().items()]
    recycle, retry = cfg.process.recycle, cfg.process.could_not_reach
    rules = {"handoff_stage": cfg.process.handoff_stage,
             "calendar": cfg.sla.calendar or "Monday-Friday 09:00-17:00 UTC",
             "recycle": f"{recycle.stage}: handed over again after {recycle.cool_off}"
                        + (" and a new activity" if recycle.new_signal else "")
                        + ", if the lead qualifies then",
             "could_not_reach": f"{retry.stage}: handed over again after "
                                f"{retry.retry_after}, at most {retry.max_attempts} "
                                f"time{'' if retry.max_attempts == 1 else 's'}"}
    if as_json:
        typer.echo(json.dumps({"stages": stages, "clocks": clocks, **rules}, indent=2))
        return
    table = Table(title="the lead process", box=box.SIMPLE_HEAD, pad_edge=False)
    for column in ("stage", "team", "CRM statuses", "max", "on breach"):
        table.add_column(column)
    for row in stages:
        table.add_row(row["stage"] + (" (final)" if row["final"] else "")
                      + (" ← hand-off" if row["stage"] == rules["handoff_stage"] else ""),
                      row["team"], ", ".join(row["crm_statuses"]) or "-", row["max"] or "-",
                      ", ".join(row["on_breach"]) if row["max"] else "-")
    out.print(table)
    if clocks:
        sla = Table(title=f"SLA clocks (business time: {rules['calendar']})",
                    box=box.SIMPLE_HEAD, pad_edge=False)
        for column in ("clock", "within", "warn before", "on breach"):
            sla.add_column(column)
        for row in clocks:
            sla.add_row(row["clock"], row["within"], row["warn_before"] or "-",
                        ", ".join(row["on_breach"]))
        out.print(sla)
    else:
        out.print("no SLA clocks: add [sla.first_touch] (docs/sla.md)")
    out.print(f"recycle: {rules['recycle']}", highlight=False)
    out.print(f"could not reach: {rules['could_not_reach']}", highlight=False)


@app.command()
def sla(config: ConfigOpt = None,
        rep: Annotated[str | None, typer.Option(
            "--rep", help="Only this rep's clocks (key, name or CRM id).")] = None,
        everything: Annotated[bool, typer.Option(
            "--all", help="Every clock: met and closed ones too.")] = False,
        as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """SLA clocks per rep: open, approaching their deadline, and breached (a breached
    clock until it is met; those closed otherwise for a week)."""
    from datetime import timedelta

    from connector.records import utcnow
    from connector.sla.report import clock_rows, leads_of
    from connector.sla.store import SlaStore
    from connector.wiring import open_marketing

    cfg = _load(config)
    store = _state(cfg)
    try:
        clocks = SlaStore(store.engine).listing(  # open, and the last week's breaches
            cfg.crm.adapter, include_closed=everything,
            breached_since=utcnow() - timedelta(days=BREACHES_SHOWN_DAYS))
        with open_marketing(cfg) as marketing:
            leads = {lead.id: lead for lead in marketing.leads(leads_of(clocks))}
        rows = clock_rows(clocks, leads, cfg.routing.reps, utcnow(), rep=rep,
                          everything=everything)
    except LeadsyncError as exc:
        err.print(str(exc), style="red", highlight=False)
        raise typer.Exit(2 if isinstance(exc, LookupError) else 1) from None
    finally:
        store.close()
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        out.print("no SLA clocks" + (f" for {rep}" if rep else "") + " to show")
        return
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    for column in ("owner", "lead", "clock", "started (UTC)", "due (UTC)", "state", "evidence"):
        table.add_column(column)
    for row in rows:
        table.add_row(row["owner"], row["lead"], row["clock"],
                      row["started_at"][:16].replace("T", " "),
                      row["due_at"][:16].replace("T", " "), row["state"], row["evidence"],
                      style="red" if row["state"] == "breached" else
                      "yellow" if row["state"] == "approaching" else None)
    out.print(table)


@app.command()
def queue(rep: Annotated[str | None, typer.Argument(
              help="Only this rep's leads (key in [routing.reps], name or CRM id).")] = None,
          config: ConfigOpt = None,
          as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """The reps' work list: open hand-offs by rank, nearest SLA deadline, then score."""
    from connector.queue import work_queue
    from connector.records import utcnow

    cfg = _load(config)
    now = utcnow()
    try:
        rows = work_queue(cfg, now, rep=rep)
    except LeadsyncError as exc:
        err.print(str(exc), style="red", highlight=False)
        raise typer.Exit(2 if isinstance(exc, LookupError) else 1) from None
    if as_json:
        typer.echo(json.dumps([row.to_dict() for row in rows], indent=2))
        return
    if not rows:
        out.print("no open hand-offs" + (f" for {rep}" if rep else ""))
        return
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("#", no_wrap=True)
    table.add_column("owner")
    table.add_column("lead", ratio=1)
    for column in ("score", "stage", "SLA due (UTC)"):
        table.add_column(column, no_wrap=True)
    for row in rows:
        due = f"{row.due_at[5:16].replace('T', ' ')} {row.clock}" if row.due_at else ""
        points = f"{row.score:g}" if row.score is not None else ""
        table.add_row(str(row.rank), row.owner, row.lead, f"{points} {row.tier or ''}".strip(),
                      row.stage, due + (" late" if row.late else ""),
                      style="red" if row.late else None)
    out.print(table)
    out.print("by rank, then the nearest SLA deadline, then score; --json adds record ids",
              style="dim")


@app.command()
def migrate(config: ConfigOpt = None,
            sql: Annotated[bool, typer.Option(
                "--sql", help="Print the SQL it would run (for a DBA to review or run); "
                              "change nothing.")] = False,
            only: Annotated[str | None, typer.Option(
                "--only", help="state or marketing: that store alone (with --sql, the SQL "
                               "for one database to pipe into it).")] = None,
            log_json: LogJsonOpt = False) -> None:
    """Upgrade the state database and the embedded marketing store to this version's
    schema: every pipeline's state (or --pipeline's) and the marketing store once."""
    _setup(log_json)
    from connector.wiring import migrate as upgrade_all

    if only not in (None, "state", "marketing"):
        err.print(f"--only {only!r}: state or marketing", style="red", highlight=False)
        raise typer.Exit(2)
    taken: set[str] = set()  # the marketing store the pipelines share: once
    try:
        for done in (step for cfg in _load_all(config).values()
                     for step in upgrade_all(cfg, sql=sql, only=only, done=taken)):
            if sql:  # stdout stays SQL, to pipe into psql: what was found is a comment
                typer.echo(f"-- {done}")
                if done.sql:
                    typer.echo(done.sql)
            else:
                out.print(str(done), highlight=False)
    except LeadsyncError as exc:
        err.print(str(exc), style="red", highlight=False)
        raise typer.Exit(1) from None


@app.command()
def report(what: Annotated[str | None, typer.Argument(
               help="scoring: the score feedback (per score band and signal, what sales "
                    "made of the leads; a suggested threshold). Left out: the funnel.",
               show_default=False)] = None,
           config: ConfigOpt = None,
           since: Annotated[str | None, typer.Option(
               help="First day (YYYY-MM-DD, UTC) [default: 28 days before --until; "
                    "scoring: the first hand-off].")] = None,
           until: Annotated[str | None, typer.Option(
               help="Day after the last (YYYY-MM-DD, UTC) [default: tomorrow].")] = None,
           by: Annotated[str | None, typer.Option(
               help="Break down by source, campaign, territory, rep or tier.")] = None,
           per: Annotated[str | None, typer.Option(
               "--period", help="Figures per week, month or quarter.")] = None,
           fmt: Annotated[str | None, typer.Option(
               "--format", help="html, json or csv [default: html].",
               show_default=False)] = None,
           out_path: Annotated[Path | None, typer.Option(
               "--out", help="Write here, - for the terminal [default: leadsync-report.html "
                             "for html; json and "
                             "csv to the terminal].")] = None,
           as_json: Annotated[bool, typer.Option(
               "--json", help="Print JSON (the same as --format json).")] = False,
           keep_wins: Annotated[float, typer.Option(
               "--keep-wins", min=1, max=100,
               help="Score feedback: the % of won leads a suggested threshold keeps.")] = 90
           ) -> None:
    """Funnel figures from the stage history: the cohort handed off in the period
    (followed to today), the steps taken in it, and why leads left sales.
    `leadsync report scoring`: what sales made of each score band and signal."""
    from connector.reporting import as_csv, as_html, figures, window

    if what not in (None, "scoring"):
        err.print(f"report {what!r}: `leadsync report` (the funnel) or `leadsync report "
                  "scoring`", style="red", highlight=False)
        raise typer.Exit(2)
    if as_json and fmt not in (None, "json"):
        err.print(f"--json and --format {fmt}: one or the other", style="red",
                  highlight=False)
        raise typer.Exit(2)
    fmt = "json" if as_json else fmt
    if what == "scoring":
        _report_scoring(config, since, until, by, per, fmt, out_path, keep_wins / 100)
        return
    fmt = fmt or "html"
    try:
        start, end = window(since, until, by, per)
    except ValueError as exc:
        err.print(str(exc), style="red", highlight=False)
        raise typer.Exit(2) from None
    if fmt not in ("html", "json", "csv"):
        err.print(f"--format {fmt!r}: html, json or csv", style="red", highlight=False)
        raise typer.Exit(2)
    cfg = _load(config)
    try:
        found = figures(cfg, start, end, by, per)
        if fmt == "html":  # the page has a section for the score feedback of its cohort
            from connector.score_feedback import feedback

            found["scoring"] = feedback(cfg, start, end, keep_wins / 100)
    except LeadsyncError as exc:
        err.print(str(exc), style="red", highlight=False)
        raise typer.Exit(1) from None
    text = {"csv": as_csv, "html": as_html}.get(fmt, lambda f: json.dumps(f, indent=2))(found)
    if out_path is None and fmt == "html":
        out_path = Path("leadsync-report.html")
    if out_path is None or str(out_path) == "-":
        typer.echo(text)
        return
    try:
        out_path.write_text(text + ("" if text.endswith("\n") else "\n"), encoding="utf-8")
    except OSError as exc:
        err.print(f"--out {out_path}: cannot write it: {exc.strerror or exc}", style="red",
                  highlight=False)
        raise typer.Exit(2) from None
    out.print(f"report written to {out_path}")


def _report_scoring(config: Path | None, since: str | None, until: str | None,
                    by: str | None, per: str | None, fmt: str | None, out_path: Path | None,
                    keep: float) -> None:
    """`leadsync report scoring`: the score feedback, as text or JSON."""
    from datetime import UTC, datetime

    from connector.score_feedback import feedback

    given = [name for name, value in (("--by", by), ("--period", per), ("--out", out_path))
             if value is not None]
    if fmt not in (None, "json"):
        given.append(f"--format {fmt}")
    if given:
        err.print(f"{', '.join(given)}: the funnel report's; `leadsync report scoring` "
                  "prints text, or JSON with --json (its figures are in the HTML report's "
                  "score feedback section too)", style="red", highlight=False)
        raise typer.Exit(2)
    first, last = _day(since, "--since"), _day(until, "--until")
    if first and last and first >= last:
        err.print("--since must be before --until", style="red", highlight=False)
        raise typer.Exit(2)
    cfg = _load(config)
    try:
        found = feedback(cfg, *(datetime.combine(day, datetime.min.time(), tzinfo=UTC)
                                if day else None for day in (first, last)), keep)
    except LeadsyncError as exc:
        err.print(str(exc), style="red", highlight=False)
        raise typer.Exit(1) from None
    if fmt == "json":
        typer.echo(json.dumps(found, indent=2))
        return
    _print_feedback(found)


def _rate(value: float | None) -> str:
    return "–" if value is None else f"{value:.0%}"


def _print_feedback(found: dict[str, Any]) -> None:
    total = found["total"]
    span = (f"from {found['since'][:10] if found['since'] else 'the first hand-off'} "
            f"to {found['until'][:10] + ' (excluded)' if found['until'] else 'today'}")
    out.print(f"score feedback, leads handed to sales {span}: {total['leads']} handed off, "
              f"{total['accepted']} accepted, {total['recycled']} recycled, "
              f"{total['trashed']} trashed, {total['converted']} converted, {total['won']} "
              "won", highlight=False)
    if not total["leads"]:
        out.print("no lead was handed off in the period: nothing to learn from yet")
        return
    outcomes = ("accepted", "recycled", "trashed", "converted", "won")
    short = ("acc.", "rec.", "trash", "conv.", "won")

    def table(title: str, first: str, *more: str) -> Table:
        made = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, show_edge=False,
                     pad_edge=False, padding=(0, 1, 0, 0))
        made.add_column(first, overflow="fold", ratio=1)
        for column in more:
            made.add_column(column, justify="right", no_wrap=True)
        return made

    bands = table("by score at hand-off (the loaded model's)", "band", "leads", *short,
                  "won%", "trash%")
    for row in found["bands"]:
        bands.add_row(row["band"], str(row["leads"]), *(str(row[k]) for k in outcomes),
                      _rate(row["win_rate"]), _rate(row["trash_rate"]))
    out.print(bands)
    signals = table("signals, strongest first (lift: won% with it / won% without it)",
                    "signal", "pts", "leads", *short, "won%", "w/o", "won%", "lift")
    for row in found["signals"]:
        lifted = ("∞" if row["only_with_it"] else
                  "–" if row["lift"] is None else f"{row['lift']:.2f}")
        signals.add_row(f"{row['kind']} {row['signal']}",
                        "–" if row["points"] is None else f"{row['points']:g}",
                        str(row["leads"]), *(str(row[k]) for k in outcomes),
                        _rate(row["win_rate"]), str(row["without"]),
                        _rate(row["without_win_rate"]), lifted)
    out.print(signals)
    out.print("(w/o: the leads without the signal; ∞: won only with it; –: nothing to "
              "compare, every lead or none has it, or none was won without it)", style="dim")
    out.print(f"threshold: {found['threshold']['text']}", highlight=False)
    out.print("nothing was changed: set [scoring] threshold and points in config.toml "
              "yourself (`leadsync whatif CHANGED.toml` shows what a change would do first)",
              style="dim")


@app.command()
def gaps(config: ConfigOpt = None,
         as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Leads that would qualify but for one required field, highest score first: the
    list marketing works through to complete the data."""
    from connector.gaps import gaps as short_of_one

    cfg = _load(config)
    try:
        found = short_of_one(cfg)
    except LeadsyncError as exc:
        err.print(str(exc), style="red", highlight=False)
        raise typer.Exit(1) from None
    if as_json:
        typer.echo(json.dumps([gap.as_dict() for gap in found], indent=2))
        return
    if not found:
        out.print("no lead is one field short of qualifying")
        return
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    for name, justify in (("lead", "left"), ("email", "left"), ("missing", "left"),
                          ("score", "right"), ("fit", "right"), ("behaviour", "right")):
        table.add_column(name, justify=justify, overflow="fold")  # type: ignore[arg-type]
    for gap in found:
        table.add_row(gap.lead, gap.email or "", gap.missing, f"{gap.score:g}",
                      f"{gap.fit:g}", f"{gap.behaviour:g}")
    out.print(table)
    out.print(f"{len(found)} leads one field short; `leadsync explain LEAD` says how each "
              "scores", highlight=False)


CHANGES_SHOWN = 50
"""`leadsync whatif` lists this many changed leads; --json lists every one."""
WHATIF_KINDS = {"became_mql": "became MQL", "stopped_mql": "stopped being MQL",
                "owner": "owner", "match": "match"}


@app.command()
def whatif(changed: Annotated[Path, typer.Argument(
               help="The changed config.toml: its [scoring], [matching], [routing] and "
                    "[select] are replayed against the loaded config's.",
               exists=True, dir_okay=False, show_default=False)],
           config: ConfigOpt = None,
           since: Annotated[str | None, typer.Option(
               help="Only the leads changed on or after this day (YYYY-MM-DD, UTC) "
                    "[default: every lead].", show_default=False)] = None,
           as_json: Annotated[bool, typer.Option(
               "--json", help="Print JSON: every lead that changes, both outcomes.")] = False
           ) -> None:
    """What a changed scoring, matching or routing config would do to the stored leads:
    who becomes or stops being MQL, owners, matches and reviews, per territory and rep.
    Writes nothing: no CRM call, nothing stored."""
    from datetime import UTC, datetime

    from connector.whatif import whatif as replayed

    first = _day(since, "--since")
    cfg = _load(config)
    other = _changed(changed, cfg)
    try:
        found = replayed(cfg, other, since=datetime.combine(
            first, datetime.min.time(), tzinfo=UTC) if first else None)
    except LeadsyncError as exc:
        err.print(str(exc), style="red", highlight=False)
        raise typer.Exit(1) from None
    if as_json:
        typer.echo(json.dumps(found.as_dict(), indent=2))
        return
    _print_whatif(found)


def _changed(path: Path, cfg: configuration.Config) -> configuration.Config:
    """The changed file, refused as `leadsync check` refuses it: every problem with its
    key and line; and a field its scoring or routing names that no lead has."""
    from connector.checks import marketing_field_findings
    from connector.whatif import known_fields

    try:  # a file of several pipelines: the one chosen, else the loaded one's namesake
        pipelines = configuration.load_all(path)
        other = configuration.choose(pipelines, None if len(pipelines) == 1 else
                                     CHOSEN["pipeline"] or cfg.pipeline, path)
    except ConfigError as exc:
        err.print(f"{exc}", style="red", highlight=False)
        if "required key is missing" in str(exc):
            err.print("the changed file is a whole config.toml: a copy of yours with the "
                      "changes in it", highlight=False)
        raise typer.Exit(2) from None
    try:
        known = known_fields(cfg)
    except LeadsyncError as exc:
        err.print(str(exc), style="red", highlight=False)
        raise typer.Exit(1) from None
    findings = [f for f in marketing_field_findings(other, known)
                if f.key.startswith(("scoring.", "routing."))] if known is not None else []
    for finding in findings:
        mark, colour = ("✗", "red") if finding.severity == "error" else ("!", "yellow")
        err.print(Text.assemble((mark, colour), f" {path}: {finding}"), highlight=False)
    if any(f.severity == "error" for f in findings):
        raise typer.Exit(2)
    return other


def _print_whatif(found: Any) -> None:
    c = found.counts
    out.print(f"what-if: {found.current} → {found.changed}: {found.leads} leads replayed, "
              f"scored as of {found.at:%Y-%m-%d %H:%M} UTC"
              + (f" ({found.skipped} not replayable)" if found.skipped else ""),
              highlight=False)
    out.print(f"  MQL: {c['mql_now']} → {c['mql_changed']} ({c['became_mql']} would become "
              f"MQL, {c['stopped_mql']} would stop being MQL)", highlight=False)
    turn = (f" ({c['owner_changes_by_turn']} only by the round-robin's turn in the same pool)"
            if c["owner_changes_by_turn"] else "")
    out.print(f"  owners: {c['owner_changes']} leads MQL under both would change owner{turn}",
              highlight=False)
    out.print(f"  matches: {c['matches_now']} → {c['matches_changed']}, held for review: "
              f"{c['reviews_now']} → {c['reviews_changed']} ({c['match_changes']} leads' "
              "match decision would change)", highlight=False)
    for title, rows, key in (("per territory", found.territories, "territory"),
                             ("per rep", found.reps, "rep")):
        if not rows:
            continue
        table = Table(title=f"MQLs {title}", title_justify="left", box=box.SIMPLE_HEAD,
                      pad_edge=False)
        table.add_column(key)
        for column in ("now", "changed", "gained", "lost"):
            table.add_column(column, justify="right")
        for row in rows:
            table.add_row(row[key], str(row["now"]), str(row["changed"]),
                          f"+{row['gained']}" if row["gained"] else "0",
                          f"-{row['lost']}" if row["lost"] else "0")
        out.print(table)
    turns = [c for c in found.changes if c.kinds == ("owner",) and "round-robin" in c.moved]
    shown = [c for c in found.changes if c not in turns]
    if shown:
        table = Table(title="leads that would change", title_justify="left",
                      box=box.SIMPLE_HEAD, pad_edge=False)
        table.add_column("lead", no_wrap=True)
        table.add_column("email", no_wrap=True)  # an address cut in two is misread
        for column in ("change", "now", "changed"):
            table.add_column(column, overflow="fold", ratio=1)
        for change in shown[:CHANGES_SHOWN]:
            what = ", ".join(WHATIF_KINDS[k] for k in change.kinds)
            if change.moved:
                what += f": {change.moved}"
            table.add_row(change.lead, change.email or "", what, change.now.describe(),
                          change.changed.describe())
        out.print(table)
        if len(shown) > CHANGES_SHOWN:
            out.print(f"… and {len(shown) - CHANGES_SHOWN} more (--json lists every one)",
                      highlight=False)
    elif not turns:
        out.print("no lead would change")
    if turns:
        out.print(f"{len(turns)} {'leads' if len(turns) > 1 else 'lead'} "
                  f"{'change' if len(turns) > 1 else 'changes'} owner only by the "
                  "round-robin's turn in the same pool: the pool's share per rep is what "
                  "counts there (the table per rep; --json lists them)", highlight=False)
    for note in found.notes:
        out.print(f"note: {note}", style="dim", highlight=False)
    out.print("nothing was written; the changed file is not applied: copy what you keep "
              "into config.toml", style="dim")


@app.command()
def serve(config: ConfigOpt = None,
          host: Annotated[str | None, typer.Option(
              help="Address to listen on [default: [console] host, 127.0.0.1]. Beyond "
                   "loopback the token in $LEADSYNC_CONSOLE_TOKEN ([console] token_env) "
                   "is required.", show_default=False)] = None,
          port: Annotated[int | None, typer.Option(
              help="Port [default: [console] port, else 8765; 0 picks a free one].",
              show_default=False, min=0, max=65535)] = None,
          log_json: LogJsonOpt = False, verbose: VerboseOpt = False) -> None:
    """The console in a browser: the report live, possible duplicates answered with
    buttons, and the dead letters with the CRM's reasons. Runs until Ctrl-C."""
    from connector.console import DEFAULT_PORT

    _setup(log_json, verbose)
    pipelines = _load_all(config)
    first = next(iter(pipelines.values()))
    console = _console(pipelines, host or first.console.host,
                       port if port is not None else first.console.port or DEFAULT_PORT)
    out.print(f"leadsync console at {console.url}"
              + (" (token required)" if console.guarded else "") + "; Ctrl-C stops it",
              highlight=False)
    try:
        console.run()
    except KeyboardInterrupt:
        pass
    finally:
        console.close()


def _console(pipelines: dict[str, configuration.Config], host: str, port: int) -> Any:
    """The console bound to host:port, or a red line saying why it cannot be."""
    from connector.console import Console

    try:
        return Console(pipelines, host, port)
    except ConfigError as exc:
        err.print(str(exc), style="red", highlight=False)
        raise typer.Exit(2) from None
    except (OSError, ValueError) as exc:  # the port is taken, the address unknown here
        why = getattr(exc, "strerror", None) or str(exc)
        err.print(f"console: cannot listen on {host}:{port}: {why}", style="red",
                  highlight=False)
        raise typer.Exit(2) from None


BREACHES_SHOWN_DAYS = 7
"""`leadsync sla` lists a breached clock closed otherwise (re-routed, handed back, a
touch count) this long after its breach; `--all` lists every clock."""


@app.command()
def sandbox(
    config: ConfigOpt = None,
    salesforce_port: Annotated[int | None, typer.Option(
        help="Port of the Salesforce sandbox [default: the port of crm.salesforce.route_to, "
             "else 8451]", show_default=False)] = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    username: Annotated[str | None, typer.Option(
        help="Login user [default: crm.salesforce.username, else admin@leadsync.sandbox]",
        show_default=False)] = None,
    password: Annotated[str, typer.Option(help="Login password.")] = "sandbox",
    security_token: Annotated[str, typer.Option(help="Security token.")] = "",
    state: Annotated[Path | None, typer.Option(
        help="JSON file the org is loaded from and saved to on exit [default: "
             "crm.salesforce.sandbox.state when a config.toml is found]",
        show_default=False)] = None,
    seed: Annotated[Path | None, typer.Option(help="JSON fixture to seed an empty org.")] = None,
    latency: Annotated[float, typer.Option(help="Seconds added to every API call.")] = 0.0,
    error_rate: Annotated[float, typer.Option(
        help="Share of API calls answered 503 SERVER_UNAVAILABLE (0-1).")] = 0.0,
    drop_rate: Annotated[float, typer.Option(
        help="Share of API calls whose connection is dropped unanswered (0-1).")] = 0.0,
    daily_api_allocation: Annotated[int, typer.Option(
        help="API calls a day before 403 REQUEST_LIMIT_EXCEEDED.")] = 15_000,
    session_seconds: Annotated[int, typer.Option(
        help="Idle seconds before a session expires (401 INVALID_SESSION_ID).")] = 7200,
    bulk_base_seconds: Annotated[float, typer.Option(
        min=0, help="Seconds every Bulk API 2.0 job (ingest or query) stays queued.")] = 0.0,
    bulk_seconds_per_record: Annotated[float, typer.Option(
        min=0, help="Seconds a Bulk API 2.0 job takes per record (25 us: 1M records in "
                    "25 s).")] = 0.000025,
    hubspot_port: Annotated[int | None, typer.Option(
        help="Port of the HubSpot sandbox [default: the port of crm.hubspot.route_to, else "
             "8452]", show_default=False)] = None,
    hubspot_token: Annotated[str, typer.Option(
        help="The HubSpot sandbox's private app token.")] = "sandbox-token",
    hubspot_state: Annotated[Path | None, typer.Option(
        help="JSON file the HubSpot portal is kept in [default: crm.hubspot.sandbox.state "
             "when a config.toml names one]", show_default=False)] = None,
) -> None:
    """Serve the CRM sandboxes (Salesforce and HubSpot) until Ctrl-C.

    For trying things by hand with any Salesforce or HubSpot client; the fault
    options apply to both.

    Defaults come from config.toml's [crm.salesforce] / [crm.hubspot] when there
    is one, so the sandboxes serve the same org and portal the embedded ones
    keep; set crm.<adapter>.sandbox.embedded = false to sync against them.
    """
    _setup()
    from connector.sandbox.faults import Faults
    from connector.sandbox.hubspot import HubSpotSandbox
    from connector.sandbox.salesforce import SalesforceSandbox

    cfg = _load(config) if configuration.config_path(config).exists() else None
    hub = cfg.crm.hubspot if cfg else None
    if cfg and hub:
        if hubspot_port is None and hub.route_to:
            hubspot_port = int(hub.route_to.rpartition(":")[2])
        if hubspot_state is None and hub.sandbox is not None:
            hubspot_state = cfg.resolve_path(hub.sandbox.state)
    settings = cfg.crm.salesforce if cfg else None
    if cfg and settings:
        username = username or settings.username
        if salesforce_port is None and settings.route_to:
            salesforce_port = int(settings.route_to.rpartition(":")[2])
        if state is None and settings.sandbox is not None:
            state = cfg.resolve_path(settings.sandbox.state)
    username = username or "admin@leadsync.sandbox"
    try:
        faults = (Faults(latency=latency, error_rate=error_rate, drop_rate=drop_rate)
                  if latency or error_rate or drop_rate else None)
    except ValueError as exc:
        err.print(f"{exc}", style="red", highlight=False)
        raise typer.Exit(2) from None
    from connector.wiring import sandbox_statuses

    statuses = sandbox_statuses(settings.sandbox if settings else None)
    server = SalesforceSandbox(username=username, password=password, lead_statuses=statuses,
                               security_token=security_token, state_path=state, seed=seed,
                               faults=faults, daily_api_allocation=daily_api_allocation,
                               session_seconds=session_seconds,
                               bulk_base_seconds=bulk_base_seconds,
                               bulk_seconds_per_record=bulk_seconds_per_record)
    portal = HubSpotSandbox(token=hubspot_token, state_path=hubspot_state, faults=faults)
    address = server.start(host, salesforce_port or 8451)
    try:
        hub_address = portal.start(host, hubspot_port or 8452)
    except OSError:
        server.stop()
        raise
    out.print(f"Salesforce sandbox on http://{address} (login {username}); Ctrl-C stops it")
    out.print(f"HubSpot sandbox on http://{hub_address} (bearer token as --hubspot-token)")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        portal.stop()
        server.stop()


rep_app = typer.Typer(help="The reps leads are routed to: away periods, today's load.",
                      no_args_is_help=True, rich_markup_mode=None)
app.add_typer(rep_app, name="rep")


def _router(cfg: configuration.Config) -> Any:
    from connector.routing import Router, RoutingStore

    # opened once, through _state: a state.url that cannot be opened is one line
    return Router(cfg.routing, RoutingStore(_state(cfg).engine, owns_engine=True))


def _day(value: str | None, option: str) -> Any:
    """A YYYY-MM-DD option as a date; a clear error for anything else."""
    from datetime import date

    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        err.print(f"{option} {value!r}: expected a date like 2026-12-01", style="red",
                  highlight=False)
        raise typer.Exit(2) from None


@rep_app.command("away")
def rep_away(name: Annotated[str, typer.Argument(help="Rep key, name or CRM id.")],
             until: Annotated[str, typer.Option(
                 "--until", show_default=False,
                 help="Last day away (inclusive, in the rep's time zone), YYYY-MM-DD.")],
             start: Annotated[str | None, typer.Option(
                 "--from", show_default=False,
                 help="First day away, YYYY-MM-DD [default: now].")] = None,
             reason: Annotated[str, typer.Option(help="Shown in routing reasons.")] = "",
             config: ConfigOpt = None) -> None:
    """Mark a rep out of office: round-robin skips them, their accounts' leads pass on."""

    from connector.routing import UnknownRep

    last, first = _day(until, "--until"), _day(start, "--from")
    router = _router(_load(config))
    try:
        key = router.set_away(name, last, start=first, reason=reason)
    except (UnknownRep, ValueError) as exc:
        err.print(f"{str(exc)}", style="red", highlight=False)
        raise typer.Exit(1) from None
    finally:
        router.store.close()
    since = f" from {first}" if first else ""
    out.print(f"{router.config.rep_name(key)} ({key}) away{since} until {last}",
              highlight=False)


@rep_app.command("back")
def rep_back(name: Annotated[str, typer.Argument(help="Rep key, name or CRM id.")],
             config: ConfigOpt = None) -> None:
    """Clear a rep's away periods set with `leadsync rep away`."""

    from connector.routing import UnknownRep

    router = _router(_load(config))
    try:
        key, cleared, still = router.set_back(name)
    except UnknownRep as exc:
        err.print(f"{str(exc)}", style="red", highlight=False)
        raise typer.Exit(1) from None
    finally:
        router.store.close()
    out.print(f"{router.config.rep_name(key)} ({key}): {cleared} away period(s) cleared",
              highlight=False)
    if still:
        err.print((f"config.toml still says {still}; edit [routing.reps.{key}] away"),
                  style="yellow", highlight=False)


@rep_app.command("list")
def rep_list(config: ConfigOpt = None,
             as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False
             ) -> None:
    """Every rep: pools and weights, leads today and this week against the caps, status."""
    from dataclasses import asdict

    router = _router(_load(config))
    try:
        reps = router.status()
    finally:
        router.store.close()
    if as_json:
        typer.echo(json.dumps([asdict(r) for r in reps], indent=2))
        return
    out.print(_reps_table(reps, out.width))


def _reps_table(reps: list[Any], width: int) -> Table:
    """The reps, whole within ``width``: who a rep is takes one column (name and key,
    the CRM id under them), the working hours go under the time zone, the status leaves
    out the name the row shows. Names, pools and the status wrap between words when the
    room is short; an id or a time zone is never cut."""
    headers = ("rep", "pools (weight)", "time zone", "today", "week", "status")
    rows = []
    for r in reps:
        who = r.name if r.name == r.key else f"{r.name} ({r.key})"
        rows.append((f"{who}\n{r.id}", ", ".join(f"{p} ({w})" for p, w in r.pools.items()),
                     r.timezone + (f"\n{r.hours}" if r.hours else ""),
                     f"{r.today}/{r.daily_cap}" if r.daily_cap is not None else str(r.today),
                     f"{r.week}/{r.weekly_cap}" if r.weekly_cap is not None else str(r.week),
                     r.status.removeprefix(f"{r.name} ")))

    def widest(index: int, *, words: bool = False) -> int:
        cells = [headers[index], *(row[index] for row in rows)]
        return max(len(part) for cell in cells
                   for part in (cell.split() if words else cell.splitlines()))

    natural = [widest(i) for i in range(len(headers))]
    room = width - 2 * (len(headers) - 1)  # two spaces between columns
    fixed = natural[:-1]
    if room - sum(fixed) < min(natural[-1], max(widest(5, words=True), 16)):
        fixed[0], fixed[1] = widest(0, words=True), widest(1, words=True)  # names wrap
    status = max(min(natural[-1], room - sum(fixed)), widest(5, words=True))
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, padding=(0, 1, 0, 0))
    for header, size in zip(headers, [*fixed, status], strict=True):
        table.add_column(header, width=size,
                         justify="right" if header in ("today", "week") else "left")
    for row in rows:
        table.add_row(*row)
    return table


if __name__ == "__main__":
    app()
