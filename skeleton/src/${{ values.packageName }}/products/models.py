"""The product as the service and its repositories see it."""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
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
