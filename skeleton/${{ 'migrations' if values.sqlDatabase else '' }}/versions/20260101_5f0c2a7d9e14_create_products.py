"""Create the products table.

Revision ID: 5f0c2a7d9e14
Revises:
Create Date: 2026-01-01 00:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
{% if values.database == 'aurora-mysql' %}
from sqlalchemy.dialects import mysql
{% endif %}

revision: str = "5f0c2a7d9e14"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As in db/types.py, spelled out so this migration never changes with the application code:
{% if values.database == 'aurora-postgresql' %}
# SQLite has no decimal type, so prices are text.
TIMESTAMP = sa.DateTime(timezone=True)
{% else %}
# MySQL keeps microseconds only with fsp=6; SQLite has no decimal type, so prices are text.
TIMESTAMP = sa.DateTime(timezone=True).with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")
{% endif %}
MONEY = sa.Numeric(12, 2).with_variant(sa.String(14), "sqlite")


def upgrade() -> None:
    op.create_table(
        "products",
        sa.Column("tenant_id", sa.String(100), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("description", sa.String(2000), nullable=True),
        sa.Column("price", MONEY, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_products")),
    )
    op.create_index("ix_products_tenant_created", "products", ["tenant_id", "created_at", "id"])
    op.create_index(
        "ix_products_tenant_status_created",
        "products",
        ["tenant_id", "status", "created_at", "id"],
    )


def downgrade() -> None:
    op.drop_index("ix_products_tenant_status_created", table_name="products")
    op.drop_index("ix_products_tenant_created", table_name="products")
    op.drop_table("products")
