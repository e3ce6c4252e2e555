"""gateway: tenants and their API keys (stored as SHA-256 hashes)

Revision ID: gateway_0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "gateway_0001"
down_revision = None
branch_labels = ("gateway",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "gateway_tenants",
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("tenant_class", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "gateway_keys",
        sa.Column("key_id", sa.String(32), primary_key=True),
        sa.Column("key_sha256", sa.String(64), nullable=False, unique=True),
        sa.Column(
            "tenant", sa.String(128), sa.ForeignKey("gateway_tenants.name"), nullable=False, index=True
        ),
        sa.Column("models", sa.JSON, nullable=True),
        sa.Column("revoked", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("gateway_keys")
    op.drop_table("gateway_tenants")
