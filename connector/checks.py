"""`leadsync check`: reach every system, hold the mapping against CRM metadata, the routing
reps against the CRM's users, and every marketing field config.toml names against the
fields the marketing store holds.

A database that cannot be opened is one finding naming its setting (``state.url``,
``marketing.url``) with the password hidden. A marketing field name that no lead has
(``required_fields = ["companyy"]``) would qualify no lead, silently: it is an error here,
with the name it most likely misspells.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from connector.adapters.base import CrmOwner
from connector.config import Config, closest, database_problem
from connector.errors import LeadsyncError
from connector.mapping import COMPUTED
from connector.mapping.transforms import parse
from connector.mapping.validate import WRITES, Finding, Severity, mapping_findings
from connector.records import ObjectSchema
from connector.state import StateStore
from connector.wiring import open_crm, open_marketing

PSEUDO_FIELDS = set(COMPUTED) | {"id", "stage"}
"""Names a rule may use that are no marketing field: computed by the cycle, or the
lead's own id and stage (``Lead.get``)."""

TERRITORY_FIELDS: dict[str, tuple[str, ...]] = {
    "country": ("country",), "state": ("state",), "postal_code": ("postal_code",),
    "industry": ("industry",), "employees": ("employees",),
    "revenue": ("annual_revenue", "revenue"), "lead_source": ("lead_source",),
}
"""A territory condition → the lead fields it reads (any of them)."""


def run_checks(config: Config) -> list[Finding]:
    """Every finding, errors and warnings; a system that cannot be reached is an error.

    The mapping is checked only once the CRM answered: its metadata is the
    reference, and a login error would otherwise hide behind a page of guesses.
    """
    found: list[Finding] = []
    try:
        StateStore(config.resolve_url(config.state.url)).close()
    except Exception as exc:  # any driver error is a finding here, not a crash
        found.append(_database(config, "state.url", exc))
    known: set[str] | None = None
    kinds: set[str] | None = None
    empty: bool | None = None
    try:
        with open_marketing(config) as marketing:
            lister = getattr(marketing, "known_fields", None)
            known = set(lister()) if lister is not None else None
            kinder = getattr(marketing, "known_kinds", None)
            kinds = set(kinder()) if kinder is not None else None
            is_empty = getattr(marketing, "is_empty", None)
            empty = is_empty() if is_empty is not None else None
    except Exception as exc:
        found.append(_database(config, "marketing.url", exc))
    else:
        found.extend(seed_findings(config, empty))
    if known is not None:
        found.extend(marketing_field_findings(config, known, kinds))
    try:
        with open_crm(config) as crm:
            reached = crm.check()
            found.extend(_unreachable(crm.name, p) for p in reached)
            if not reached:
                found.extend(mapping_findings(config, crm.describe(config.mapping.object)))
                if config.routing.expansion is not None:
                    found.extend(expansion_findings(config, crm.describe(crm.account_object)))
                if config.routing.configured:
                    found.extend(_routing(config, crm.owners()))
    except LeadsyncError as exc:
        found.append(_unreachable(config.crm.adapter, str(exc)))
    return found


def _database(config: Config, key: str, exc: BaseException) -> Finding:
    return Finding("error", key, config.line(*key.split(".")), database_problem(config, key, exc))


def seed_findings(config: Config, empty: bool | None) -> list[Finding]:
    """The seed file must exist while the store is empty: the first run reads it."""
    seed = config.marketing.seed
    if not seed or config.resolve_path(seed).is_file():
        return []
    path = config.resolve_path(seed)
    if empty is False:
        return [Finding("warning", "marketing.seed", config.line("marketing", "seed"),
                        f"no file {path}; not read again, the store already holds leads",
                        "remove the setting")]
    return [Finding("error", "marketing.seed", config.line("marketing", "seed"),
                    f"no file {path}; the first run imports it into the empty store",
                    "fix the path (relative to config.toml's folder) or remove the setting")]


def marketing_field_findings(config: Config, known: Iterable[str],
                             kinds: Iterable[str] | None = None) -> list[Finding]:
    """Every marketing field a scoring, mapping or routing rule names, held against the
    fields the store holds (``known``). Pure: the config and the names in, findings out.

    A misspelt name (one close to a known field) is an error with the known one; a name
    no lead has is an error where it makes every lead fail (a required field), and a
    warning where it only never contributes (points, a mapped value, a condition).
    ``kinds``: the activity kinds the store holds, for the kinds scoring names: a
    warning, with the kind it may misspell (a kind may not have happened yet); not
    held against a store without activities.
    """
    names = set(known)
    have = names | PSEUDO_FIELDS
    found: list[Finding] = []

    def check(name: str, path: tuple[str, ...], effect: str, *, severe: bool = False) -> None:
        if name in have:
            return
        close = closest(name, names)
        severity: Severity = "error" if close or severe else "warning"
        message = f"no lead in the marketing store has a field {name!r}: {effect}"
        fix = f"did you mean {close!r}?" if close else None
        found.append(Finding(severity, ".".join(path), config.line(*path), message, fix))

    scoring = config.scoring
    for name in scoring.required_fields:
        check(name, ("scoring", "required_fields"), "no lead can qualify", severe=True)
    for name in scoring.profile_points:
        check(name, ("scoring", "profile_points", name), "it never adds points")
    for index, rule in enumerate(scoring.fit):
        check(rule.field, ("scoring", "fit", str(index), "field"),
              "it never adds points" if not rule.exclude else "it never excludes a lead")
    held = set(kinds or ())
    named = [(kind, ("scoring", "activity_points", kind), "it counts for nobody yet")
             for kind in scoring.activity_points]
    named += [(kind, ("scoring", "activity_caps", kind), "it caps nothing yet")
              for kind in scoring.activity_caps]
    named += [(rule.activity, ("scoring", "entry", str(i), "activity"),
               "it sets no lead's status yet") for i, rule in enumerate(scoring.entry)]
    if held:  # a store without activities says nothing about kinds
        for kind, path, effect in named:
            if kind not in held:
                close = closest(kind, held)
                found.append(Finding(  # a warning: a kind may just not have happened yet
                    "warning", ".".join(path), config.line(*path),
                    f"no activity in the marketing store is a {kind!r}: {effect}",
                    f"did you mean {close!r}?" if close else None))
    for name, entry in config.mapping.entries().items():
        base = ("mapping", "fields", name)
        if entry.sync in WRITES:
            for source in entry.sources(name):
                check(source, (*base, "from") if entry.source is not None else base,
                      f"nothing is written to {entry.crm}")
            for field, _step in _transform_fields(entry.transform):
                check(field, (*base, "transform"), "the transform never reads a value")
        elif entry.sync != "none" and name not in have:
            close = closest(name, names)
            if close:  # written into, so created if new; a near-miss is likely a typo
                found.append(Finding("warning", ".".join(base), config.line(*base),
                                     f"no lead in the marketing store has a field {name!r}: "
                                     f"the CRM's {entry.crm} will be written into a new field",
                                     f"did you mean {close!r}?"))
    for index, territory in enumerate(config.routing.territories):
        for condition, fields in TERRITORY_FIELDS.items():
            if getattr(territory, condition) and not any(f in have for f in fields):
                path = ("routing", "territories", str(index), condition)
                found.append(Finding(
                    "warning", f"routing.territories.{index}.{condition}", config.line(*path),
                    f"territory {territory.name!r}: no lead in the marketing store has a field "
                    f"{fields[0]!r}, so this condition matches no lead"))
    return sorted(found, key=lambda f: (f.line is None, f.line or 0))


def _transform_fields(spec: list[Any]) -> Iterable[tuple[str, str]]:
    """The other marketing fields a transform chain reads (concat, state's country)."""
    for step in parse(spec):
        if step.name == "concat":
            yield from ((name, step.name) for name in step.args["fields"])
        elif step.name == "state" and step.args.get("country_field"):
            yield step.args["country_field"], step.name


def expansion_findings(config: Config, accounts: ObjectSchema) -> list[Finding]:
    """[routing.expansion] against the account object: its field, and the values a
    picklist field can hold."""
    expansion = config.routing.expansion
    assert expansion is not None

    def finding(key: str, message: str, fix: str | None = None) -> Finding:
        path = ("routing", "expansion", key)
        return Finding("error", ".".join(path), config.line(*path), message, fix)

    info = accounts.field(expansion.account_field)
    if info is None:
        close = closest(expansion.account_field, accounts.fields)
        return [finding("account_field", f"{accounts.name} has no field "
                        f"{expansion.account_field!r}",
                        f"did you mean {close!r}?" if close else None)]
    if not info.picklist:
        return []
    return [finding("customer_values", f"{value!r} is not a value of {accounts.name}."
                    f"{info.name} (allowed: {', '.join(repr(v) for v in info.picklist)})")
            for value in expansion.customer_values if value not in info.picklist]


def _routing(config: Config, owners: list[CrmOwner]) -> list[Finding]:
    """Rep ids and the fallback against the CRM's users/owners (active or not)."""
    from connector.routing import routing_findings

    return routing_findings(config, {o.id for o in owners if o.active},
                            {o.id: o.name for o in owners})


def _unreachable(system: str, message: str) -> Finding:
    return Finding("error", system, None, message)
