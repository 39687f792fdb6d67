"""The first released schema of the embedded marketing store: leads, activities,
stage history and refused import rows, as leadsync made them with ``create_all``
before its schema had migrations (git 48a6a93, leadsync 0.1.0).

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
        "import_reject", schema,
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("line", sa.Integer(), nullable=False),
        sa.Column("record", sa.String(), nullable=False),
        sa.Column("field", sa.String(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("raw", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
    )
    sa.Table(
        "mk_lead", schema,
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("key", sa.String(), nullable=False, default=''),
        sa.Column("email", sa.String(), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("stage", sa.String(), nullable=True),
        sa.Column("stage_updated_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("field_times", sa.JSON(), nullable=True),
        sa.UniqueConstraint("key"),
        sa.Index("ix_mk_lead_email", "email"),
        sa.Index("ix_mk_lead_feed", "updated_at", "id"),
    )
    sa.Table(
        "mk_activity", schema,
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("lead_id", sa.Integer(), sa.ForeignKey("mk_lead.id"), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(), nullable=False),
        sa.Column("detail", sa.String(), nullable=False, default=''),
        sa.UniqueConstraint("lead_id", "kind", "occurred_at", "detail"),
        sa.Index("ix_mk_activity_lead_id", "lead_id"),
    )
    sa.Table(
        "mk_stage_change", schema,
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("lead_id", sa.Integer(), sa.ForeignKey("mk_lead.id"), nullable=False),
        sa.Column("from_stage", sa.String(), nullable=True),
        sa.Column("stage", sa.String(), nullable=False),
        sa.Column("crm_status", sa.String(), nullable=False),
        sa.Column("amount", sa.Float(), nullable=True),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("who", sa.String(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Index("ix_mk_stage_change_lead_id", "lead_id"),
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
