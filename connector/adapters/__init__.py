"""Adapters, one module per system; importing this package registers them all."""

from connector.adapters import hubspot, marketing_store, salesforce  # noqa: F401  (registration)
from connector.adapters.registry import (
    CRM_ADAPTERS,
    MARKETING_ADAPTERS,
    open_crm,
    open_marketing,
)

__all__ = ["CRM_ADAPTERS", "MARKETING_ADAPTERS", "open_crm", "open_marketing"]
