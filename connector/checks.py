"""`leadsync check`: reach every system, hold the mapping against CRM metadata and the
routing reps against the CRM's users."""

from __future__ import annotations

from connector.adapters.base import CrmOwner
from connector.config import Config
from connector.db import redacted
from connector.errors import LeadsyncError
from connector.mapping.validate import Finding, mapping_findings
from connector.state import StateStore
from connector.wiring import open_crm, open_marketing


def run_checks(config: Config) -> list[Finding]:
    """Every finding, errors and warnings; a system that cannot be reached is an error.

    The mapping is checked only once the CRM answered: its metadata is the
    reference, and a login error would otherwise hide behind a page of guesses.
    """
    found: list[Finding] = []
    try:
        StateStore(config.resolve_url(config.state.url)).close()
    except Exception as exc:  # any driver error is a finding here, not a crash
        found.append(_unreachable("state", f"{redacted(config.state.url)}: "
                                           f"{exc.__class__.__name__}: {str(exc).splitlines()[0]}"))
    try:
        with open_marketing(config):
            pass
    except Exception as exc:
        found.append(_unreachable("marketing", f"{exc.__class__.__name__}: {exc}"))
    try:
        with open_crm(config) as crm:
            reached = crm.check()
            found.extend(_unreachable(crm.name, p) for p in reached)
            if not reached:
                found.extend(mapping_findings(config, crm.describe(config.mapping.object)))
                if config.routing.configured:
                    found.extend(_routing(config, crm.owners()))
    except LeadsyncError as exc:
        found.append(_unreachable(config.crm.adapter, str(exc)))
    return found


def _routing(config: Config, owners: list[CrmOwner]) -> list[Finding]:
    """Rep ids and the fallback against the CRM's users/owners (active or not)."""
    from connector.routing import routing_findings

    return routing_findings(config, {o.id for o in owners if o.active},
                            {o.id: o.name for o in owners})


def _unreachable(system: str, message: str) -> Finding:
    return Finding("error", system, None, message)
