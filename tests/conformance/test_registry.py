"""Every registered CRM adapter must pass the conformance suite."""

from __future__ import annotations

import importlib
import pkgutil

import tests.conformance as package
from connector.adapters import CRM_ADAPTERS
from tests.conformance.contract import CrmAdapterContract


def test_every_crm_adapter_has_a_conformance_subclass() -> None:
    for info in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"{package.__name__}.{info.name}")
    covered = {cls.adapter_name for cls in CrmAdapterContract.__subclasses__()
               if cls.__name__.startswith("Test")}
    assert set(CRM_ADAPTERS) <= covered, f"no conformance tests for {set(CRM_ADAPTERS) - covered}"
