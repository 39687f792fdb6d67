"""The embedded marketing store's seed when several pipelines (or workers) open the
empty store at once: one seeds it, the others wait and find it seeded (the docs-only
trial of the workers saw "UNIQUE constraint failed: mk_lead.key" on a fresh
deployment: two processes importing the seed side by side)."""

from __future__ import annotations

import multiprocessing
import time
from pathlib import Path

from sqlalchemy import func
from sqlmodel import Session, select

from connector import config as configuration
from connector.adapters.marketing_store import EmbeddedMarketingStore, MkLead, open_embedded
from connector.db import named_lock
from tests.conftest import config_text, lead_row, write_csv


def test_a_store_being_seeded_is_waited_for_not_seeded_twice(tmp_path: Path) -> None:
    seed = write_csv(tmp_path / "seed.csv", [lead_row(i) for i in range(50)])
    path = tmp_path / "config.toml"
    path.write_text(config_text(tmp_path, state_url=f"sqlite:///{tmp_path}/s.db",
                                marketing_url=f"sqlite:///{tmp_path}/m.db",
                                route_to="127.0.0.1:9", seed=str(seed)), encoding="utf-8")
    config = configuration.load(path)
    store = EmbeddedMarketingStore(config.resolve_url(config.marketing.url))
    fork = multiprocessing.get_context("fork")
    try:
        with named_lock(store.engine, "marketing-seed", wait=True):  # another seeder
            other = fork.Process(target=_open_seeded, args=(path,))
            other.start()
            time.sleep(1.0)
            assert other.is_alive()  # waiting for the seed in progress
            store.import_file(seed)
        other.join(30)
        assert other.exitcode == 0
        with Session(store.engine) as session:
            assert session.exec(select(func.count()).select_from(MkLead)).one() == 50
    finally:
        store.close()


def _open_seeded(path: Path) -> None:
    with open_embedded(configuration.load(path), seed=True):
        pass
