"""`leadsync check` for routing: every rep id and the fallback held against the CRM.

A pool naming someone who left the company routes around them at run time
(inactive reps are skipped), but silently: the admin should hear it once, at
check time, with the key to edit. Pure: the config and the CRM's users in,
findings out.
"""

from __future__ import annotations

from collections.abc import Mapping

from connector.config import Config, key_lines
from connector.mapping.validate import Finding


def routing_findings(config: Config, active_owner_ids: set[str] | frozenset[str],
                     owner_names: Mapping[str, str]) -> list[Finding]:
    """Findings for reps and the fallback owner the CRM does not know or has deactivated.

    ``owner_names`` holds every user/owner the CRM listed (active or not), so a
    deactivated rep is told apart from a mistyped id. Queues count as owners when
    the caller lists them (a fallback is often a queue).
    """
    routing = config.routing
    source = config.source
    text = source.read_text(encoding="utf-8") if source and source.exists() else ""
    lines = key_lines(text)
    found: list[Finding] = []

    def line(*path: str) -> int | None:
        for end in range(len(path), 0, -1):
            if path[:end] in lines:
                return lines[path[:end]]
        return None

    in_pool = {key for pool in routing.pools.values() for key in pool.weights()}
    for key, rep in routing.reps.items():
        path = ("routing", "reps", key, "id")
        where = ".".join(path)
        if rep.id in active_owner_ids:
            if key not in in_pool:
                found.append(Finding("warning", ".".join(path[:3]), line(*path[:3]),
                                     f"rep {routing.rep_name(key)} is in no pool",
                                     "add them to a [routing.pools] table or remove them"))
            continue
        if rep.id in owner_names:
            found.append(Finding(
                "warning", where, line(*path),
                f"{rep.id!r} ({owner_names[rep.id]}) is not an active CRM user; routing "
                "skips them", "reactivate the user or take the rep out of the pools"))
        else:
            found.append(Finding("error", where, line(*path),
                                 f"no CRM user or owner has id {rep.id!r}",
                                 "copy the id from the CRM's user list"))
    for name, pool in routing.pools.items():
        weights = pool.weights()
        if weights and not any(weights[k] and routing.reps[k].id in active_owner_ids
                               for k in weights):
            found.append(Finding("error", f"routing.pools.{name}", line("routing", "pools", name),
                                 f"pool {name} has no active rep with a weight above 0: "
                                 "its territories' leads all go to the fallback"))
    owner = routing.fallback_owner
    if owner is not None and owner not in active_owner_ids:
        known = f" ({owner_names[owner]}) is not active" if owner in owner_names else \
            " is no CRM user, owner or queue"
        found.append(Finding("error", "routing.fallback_owner",
                             line("routing", "fallback_owner"), f"{owner!r}{known}",
                             "name an active user or a queue"))
    elif owner is None and routing.territories:
        found.append(Finding("warning", "routing", line("routing"),
                             "no fallback_owner: leads no territory takes keep the CRM's "
                             "default owner (the integration user)"))
    return sorted(found, key=lambda f: (f.line is None, f.line or 0))
