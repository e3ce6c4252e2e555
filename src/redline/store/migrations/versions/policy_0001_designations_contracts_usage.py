"""policy: designations, applied contract and operator-policy versions, provider usage per tenant

Revision ID: policy_0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "policy_0001"
down_revision = None
branch_labels = ("policy",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "policy_designations",
        sa.Column("id", sa.String(128), primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("version_hash", sa.String(64), nullable=False),
        sa.Column("document", sa.JSON, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "policy_documents",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("subject", sa.String(128), nullable=False),
        sa.Column("version_hash", sa.String(64), nullable=False),
        sa.Column("document", sa.JSON, nullable=False),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=False),
        sa.Index("ix_policy_documents_subject", "kind", "subject", "seq"),
    )
    op.create_table(
        "policy_provider_usage",
        sa.Column("tenant", sa.String(128), primary_key=True),
        sa.Column("provider", sa.String(128), primary_key=True),
        sa.Column("first_used", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "policy_usage_daily",
        sa.Column("provider", sa.String(128), primary_key=True),
        sa.Column("tenant", sa.String(128), primary_key=True),
        sa.Column("key_id", sa.String(64), primary_key=True),
        sa.Column("model", sa.String(256), primary_key=True),
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("requests", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("policy_usage_daily")
    op.drop_table("policy_provider_usage")
    op.drop_table("policy_documents")
    op.drop_table("policy_designations")
