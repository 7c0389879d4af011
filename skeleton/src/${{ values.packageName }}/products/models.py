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
    id: UUID
    name: str
    description: str | None
    price: Decimal
    status: ProductStatus
    created_at: datetime
    updated_at: datetime
