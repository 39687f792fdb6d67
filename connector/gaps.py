"""`leadsync gaps`: the leads that would qualify but for one required field, by score:
the list marketing works through to complete the data. No CRM call."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from connector.config import Config
from connector.normalize import normalize
from connector.scoring import one_field_short, score


@dataclass(frozen=True)
class Gap:
    lead: str
    email: str | None
    missing: str
    score: float
    fit: float
    behaviour: float
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def gaps(config: Config, now: datetime | None = None) -> list[Gap]:
    """Every lead of the marketing store one required field short, highest score
    first (then the lead's id, for a stable order)."""
    from connector.wiring import open_marketing, require_marketing_store

    require_marketing_store(config, "no lead to list")
    found = []
    with open_marketing(config) as marketing:
        for raw in marketing.read_changes(None):
            lead = normalize(raw, config.marketing.default_region).lead
            points = score(lead, config.scoring, now)
            missing = one_field_short(lead, points, config.scoring)
            if missing is not None:
                found.append(Gap(lead.id, lead.get("email"), missing, points.value,
                                 points.fit, points.behaviour, points.reason))
    return sorted(found, key=lambda gap: (-gap.score, gap.lead))
