"""Adapter registry: each adapter module ends with a ``register_*`` call.

An opener takes the whole Config and returns a context manager, so an
adapter can bring up what it needs for the length of a run (a session) and
tear it down, without the engine knowing. A CRM opener also takes
``credentials``: given, they are used as they are (the wiring passes those of
a sandbox it started); absent, the adapter reads the environment variables
its config section names.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING

from connector.errors import ConfigError

if TYPE_CHECKING:
    from connector.adapters.base import CrmAdapter, MarketingAdapter
    from connector.config import Config

CrmOpener = Callable[..., AbstractContextManager["CrmAdapter"]]
"""(config, *, credentials: Mapping[str, str] | None) → context manager."""
MarketingOpener = Callable[..., AbstractContextManager["MarketingAdapter"]]
"""(config, *, seed: bool) → context manager; ``seed`` lets a demo store fill itself."""

CRM_ADAPTERS: dict[str, CrmOpener] = {}
MARKETING_ADAPTERS: dict[str, MarketingOpener] = {}


def register_crm(name: str, opener: CrmOpener) -> None:
    CRM_ADAPTERS[name] = opener


def register_marketing(name: str, opener: MarketingOpener) -> None:
    MARKETING_ADAPTERS[name] = opener


def open_crm(config: Config, *, credentials: Mapping[str, str] | None = None
             ) -> AbstractContextManager[CrmAdapter]:
    return _pick(CRM_ADAPTERS, config.crm.adapter, "crm.adapter")(config,
                                                                   credentials=credentials)


def open_marketing(config: Config, *, seed: bool = False
                   ) -> AbstractContextManager[MarketingAdapter]:
    """The marketing adapter; ``seed=True`` (sync only) lets it load its configured seed."""
    opener = _pick(MARKETING_ADAPTERS, config.marketing.adapter, "marketing.adapter")
    return opener(config, seed=seed)


def _pick(table: dict[str, Callable], name: str, key: str) -> Callable:
    try:
        return table[name]
    except KeyError:
        raise ConfigError(f"{key}: no adapter named {name!r} (known: {', '.join(sorted(table))})"
                          ) from None
