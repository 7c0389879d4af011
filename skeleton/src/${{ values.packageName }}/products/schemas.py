"""Request and response bodies of the products API."""

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Self
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .models import Product, ProductStatus

Name = Annotated[str, Field(min_length=1, max_length=255)]
Description = Annotated[str, Field(max_length=2000)]
# Greater than zero, at most two decimal places (cents), at most 10 digits before the point.
Price = Annotated[
    Decimal, Field(gt=0, max_digits=12, decimal_places=2, allow_inf_nan=False, examples=["19.99"])
]


class ProductCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    description: Description | None = None
    price: Price
    status: ProductStatus = ProductStatus.DRAFT


class ProductUpdate(BaseModel):
    """Partial update: only the fields present change; ``description`` may be null."""

    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    description: Description | None = None
    price: Price | None = None
    status: ProductStatus | None = None

    @model_validator(mode="after")
    def _reject_null_required_fields(self) -> Self:
        for field in ("name", "price", "status"):
            if field in self.model_fields_set and getattr(self, field) is None:
                raise ValueError(f"{field} cannot be null")
        return self


class ProductRead(BaseModel):
    id: UUID
    name: str
    description: str | None
    price: Decimal
    status: ProductStatus
    created_at: datetime
    updated_at: datetime
    version: int = Field(description="Grows by one with every change.")

    @classmethod
    def from_domain(cls, product: Product) -> Self:
        return cls(
            id=product.id,
            name=product.name,
            description=product.description,
            price=product.price,
            status=product.status,
            created_at=product.created_at,
            updated_at=product.updated_at,
            version=product.version,
        )


{% if values.database == 'dynamodb' %}
class ProductPage(BaseModel):
    """One page of a listing. DynamoDB pages by key, not by offset: pass ``next_cursor``
    back as ``cursor`` for the next page; there is no total count or page number."""

    items: list[ProductRead]
    page_size: int
    next_cursor: str | None = Field(description="Cursor of the next page; null on the last.")
{% else %}
class ProductPage(BaseModel):
    items: list[ProductRead]
    total: int
    page: int
    page_size: int
    total_pages: int
{% endif %}
