"""The product as the service and its repositories see it."""

from dataclasses import dataclass, fields
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any
from uuid import UUID


class ProductStatus(StrEnum):
    DRAFT = "draft"
    ACTIVE = "active"
    DISCONTINUED = "discontinued"


@dataclass(frozen=True, slots=True)
class Product:
    """``version`` starts at 1 and grows by one with every change (optimistic locking)."""

    tenant_id: str
    id: UUID
    name: str
    description: str | None
    price: Decimal
    status: ProductStatus
    created_at: datetime
    updated_at: datetime
    version: int = 1


# The stores map these one to one to columns, so a new field is added to them here.
FIELD_NAMES = tuple(field.name for field in fields(Product))


def field_values(product: Product) -> dict[str, Any]:
    """The product's fields by name (not copied, unlike ``dataclasses.asdict``)."""
    return {name: getattr(product, name) for name in FIELD_NAMES}
