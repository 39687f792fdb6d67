"""The first released schema of the state database: runs, cursors, links, events,
dead letters, reviews, owed tasks, the candidate index and its weights, routing's
tables and the SLA clocks, as leadsync made them with ``create_all`` before its
schema had migrations (git 48a6a93, leadsync 0.1.0).

The tables are written out here, not taken from the models: a revision is the
schema as it was, and the models move on. ``schema()`` is also what adopts a
database from before migrations (``connector.migrations.adopt``): the tables it
lacks are made and the columns it lacks are added (with the defaults given here,
as the start-up stop-gap ``add_new_columns`` did), then it is stamped with this
revision. Times are naive UTC ``DateTime`` (``connector.db.UTCDateTime`` in the
models), strings unbounded ``String`` (SQLModel's ``AutoString``).

Revision ID: 0001
Revises:
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.schema import CreateIndex, CreateTable

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def schema() -> sa.MetaData:
    """Every table of this revision, in a metadata of its own."""
    schema = sa.MetaData()
    sa.Table(
        "crm_candidate", schema,
        sa.Column("crm", sa.String(), primary_key=True),
        sa.Column("crm_id", sa.String(), primary_key=True),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("crm_object", sa.String(), nullable=False),
        sa.Column("record", sa.Text(), nullable=False),
        sa.Column("modified_at", sa.DateTime(), nullable=False),
    )
    sa.Table(
        "crm_candidate_key", schema,
        sa.Column("crm", sa.String(), primary_key=True),
        sa.Column("key", sa.String(), primary_key=True),
        sa.Column("crm_id", sa.String(), primary_key=True),
        sa.Index("ix_crm_candidate_key_record", "crm", "crm_id"),
    )
    sa.Table(
        "crm_candidate_keying", schema,
        sa.Column("crm", sa.String(), primary_key=True),
        sa.Column("fingerprint", sa.String(), nullable=False),
    )
    sa.Table(
        "cursor", schema,
        sa.Column("stream", sa.String(), primary_key=True),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )
    sa.Table(
        "dead_letter", schema,
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("marketing_id", sa.String(), nullable=False),
        sa.Column("crm", sa.String(), nullable=False),
        sa.Column("crm_object", sa.String(), nullable=False),
        sa.Column("error_code", sa.String(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("fields", sa.String(), nullable=False, default='[]'),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False, default=1),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("resolved_at", sa.DateTime(), nullable=True),
        sa.Index("ix_dead_letter_marketing_id", "marketing_id"),
        sa.Index("ix_dead_letter_run_id", "run_id"),
    )
    sa.Table(
        "link", schema,
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("marketing_id", sa.String(), nullable=False),
        sa.Column("crm", sa.String(), nullable=False),
        sa.Column("crm_object", sa.String(), nullable=False),
        sa.Column("crm_id", sa.String(), nullable=False),
        sa.Column("external_id", sa.String(), nullable=False),
        sa.Column("payload_hash", sa.String(), nullable=True),
        sa.Column("crm_status", sa.String(), nullable=True),
        sa.Column("crm_status_at", sa.DateTime(), nullable=True),
        sa.Column("converted", sa.Boolean(), nullable=False, default=False),
        sa.Column("deleted_at", sa.DateTime(), nullable=True),
        sa.Column("protected", sa.Boolean(), nullable=False, default=False),
        sa.Column("other_email", sa.String(), nullable=True),
        sa.Column("field_hashes", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint("crm", "crm_object", "marketing_id"),
        sa.Index("ix_link_crm_id", "crm", "crm_id"),
        sa.Index("ix_link_external_id", "crm", "crm_object", "external_id"),
    )
    sa.Table(
        "match_review", schema,
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("marketing_id", sa.String(), nullable=False),
        sa.Column("crm", sa.String(), nullable=False),
        sa.Column("crm_object", sa.String(), nullable=False),
        sa.Column("crm_id", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("lead", sa.Text(), nullable=False),
        sa.Column("record", sa.Text(), nullable=False),
        sa.Column("status", sa.String(), nullable=False, default='pending'),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("decided_at", sa.DateTime(), nullable=True),
        sa.Column("applied_at", sa.DateTime(), nullable=True),
        sa.UniqueConstraint("crm", "marketing_id", "crm_id"),
        sa.Index("ix_match_review_marketing_id", "marketing_id"),
    )
    sa.Table(
        "match_weights", schema,
        sa.Column("crm", sa.String(), primary_key=True),
        sa.Column("records", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("why", sa.String(), nullable=False),
        sa.Column("weights", sa.Text(), nullable=False),
        sa.Column("estimated_at", sa.DateTime(), nullable=False),
    )
    sa.Table(
        "record_event", schema,
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("marketing_id", sa.String(), nullable=True),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Index("ix_record_event_marketing_id", "marketing_id"),
        sa.Index("ix_record_event_run_id", "run_id"),
    )
    sa.Table(
        "routing_assignment", schema,
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("lead_id", sa.String(), nullable=False),
        sa.Column("owner_id", sa.String(), nullable=True),
        sa.Column("rule", sa.String(), nullable=False),
        sa.Column("territory", sa.String(), nullable=True),
        sa.Column("pool", sa.String(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("warning", sa.Text(), nullable=True),
        sa.Column("rerouted_from", sa.String(), nullable=True),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Index("ix_routing_assignment_lead", "lead_id", "id"),
    )
    sa.Table(
        "routing_away", schema,
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("rep_id", sa.String(), nullable=False),
        sa.Column("start", sa.Date(), nullable=True),
        sa.Column("until", sa.Date(), nullable=False),
        sa.Column("reason", sa.String(), nullable=False, default=''),
        sa.Column("set_at", sa.DateTime(), nullable=False),
        sa.Index("ix_routing_away_rep_id", "rep_id"),
    )
    sa.Table(
        "routing_load", schema,
        sa.Column("period", sa.String(), primary_key=True),
        sa.Column("counts", sa.Text(), nullable=False),
    )
    sa.Table(
        "routing_lock", schema,
        sa.Column("name", sa.String(), primary_key=True),
        sa.Column("version", sa.Integer(), nullable=False, default=0),
    )
    sa.Table(
        "routing_pool", schema,
        sa.Column("pool", sa.String(), primary_key=True),
        sa.Column("rotation", sa.Text(), nullable=False),
    )
    sa.Table(
        "sla_clock", schema,
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("marketing_id", sa.String(), nullable=False),
        sa.Column("crm", sa.String(), nullable=False),
        sa.Column("crm_object", sa.String(), nullable=False),
        sa.Column("crm_id", sa.String(), nullable=False),
        sa.Column("clock", sa.String(), nullable=False),
        sa.Column("owner_id", sa.String(), nullable=True),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("due_at", sa.DateTime(), nullable=False),
        sa.Column("warn_at", sa.DateTime(), nullable=True),
        sa.Column("warned_at", sa.DateTime(), nullable=True),
        sa.Column("met_at", sa.DateTime(), nullable=True),
        sa.Column("breached_at", sa.DateTime(), nullable=True),
        sa.Column("closed", sa.Boolean(), nullable=False, default=False),
        sa.Column("evidence", sa.Text(), nullable=False),
        sa.Column("actions_done", sa.Text(), nullable=False),
        sa.UniqueConstraint("marketing_id", "clock", "started_at"),
        sa.Index("ix_sla_clock_open", "crm", "closed"),
    )
    sa.Table(
        "sync_run", schema,
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("status", sa.String(), nullable=False, default='running'),
        sa.Column("dry_run", sa.Boolean(), nullable=False, default=False),
        sa.Column("host", sa.String(), nullable=True),
        sa.Column("pid", sa.Integer(), nullable=True),
        sa.Column("heartbeat_at", sa.DateTime(), nullable=True),
        sa.Column("read", sa.Integer(), nullable=False, default=0),
        sa.Column("qualified", sa.Integer(), nullable=False, default=0),
        sa.Column("matched", sa.Integer(), nullable=False, default=0),
        sa.Column("held", sa.Integer(), nullable=False, default=0),
        sa.Column("created", sa.Integer(), nullable=False, default=0),
        sa.Column("updated", sa.Integer(), nullable=False, default=0),
        sa.Column("unchanged", sa.Integer(), nullable=False, default=0),
        sa.Column("refused", sa.Integer(), nullable=False, default=0),
        sa.Column("fed_back", sa.Integer(), nullable=False, default=0),
        sa.Column("not_written", sa.Integer(), nullable=False, default=0),
        sa.Column("conflicts", sa.Integer(), nullable=False, default=0),
        sa.Column("error", sa.Text(), nullable=True),
    )
    sa.Table(
        "task_owed", schema,
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("marketing_id", sa.String(), nullable=False),
        sa.Column("crm", sa.String(), nullable=False),
        sa.Column("crm_object", sa.String(), nullable=False),
        sa.Column("crm_id", sa.String(), nullable=False),
        sa.Column("occasion", sa.String(), nullable=False, default=''),
        sa.Column("task", sa.Text(), nullable=False),
        sa.Column("verify", sa.Boolean(), nullable=False, default=False),
        sa.Column("attempts", sa.Integer(), nullable=False, default=0),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("task_id", sa.String(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("made_at", sa.DateTime(), nullable=True),
        sa.UniqueConstraint("crm", "marketing_id", "crm_id"),
        sa.Index("ix_task_owed_marketing_id", "marketing_id"),
    )

    return schema


def upgrade() -> None:
    for table in schema().sorted_tables:
        op.execute(CreateTable(table))
        for index in sorted(table.indexes, key=lambda i: str(i.name)):
            op.execute(CreateIndex(index))


def downgrade() -> None:
    for table in reversed(schema().sorted_tables):
        op.drop_table(table.name)
