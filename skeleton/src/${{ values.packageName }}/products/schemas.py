"""Request and response bodies of the products API."""

import re
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Self
from uuid import UUID

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    WithJsonSchema,
    field_validator,
)

from .models import Product, ProductStatus

# No NUL character: some databases cannot store one in text, so every store refuses it.
NO_NUL = r"^[^\x00]*$"
# The characters str.strip() removes, spelled out: regex engines disagree on what \s means.
WHITESPACE = r"\x09-\x0d\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
# Not only whitespace, stored stripped; length and pattern apply to the name as sent.
NAME_TEXT = rf"^[^\x00]*[^\x00{WHITESPACE}][^\x00]*$"
Name = Annotated[
    str, Field(min_length=1, max_length=255, pattern=NAME_TEXT), AfterValidator(str.strip)
]
Description = Annotated[str, Field(max_length=2000, pattern=NO_NUL)]
# A JSON number or a string of digits; the OpenAPI description says exactly what is accepted.
PRICE_TEXT = r"^(?=.*[1-9])[0-9]{1,10}(\.[0-9]{1,2})?$"
_PRICE_TEXT = re.compile(PRICE_TEXT)
# The one form of a price everywhere it is written: exactly two decimal
# places, so 5 and 7.5 are kept as 5.00 and 7.50; a string in JSON.
CENT = Decimal("0.01")
PRICE_OUT = r"^[0-9]{1,10}\.[0-9]{2}$"


def _check_price_text(value: object) -> object:
    if isinstance(value, str) and _PRICE_TEXT.fullmatch(value) is None:
        raise ValueError("must be an amount like '19.99': digits, at most two after the point")
    return value


def to_cents(price: Decimal) -> Decimal:
    return price.quantize(CENT)


Price = Annotated[
    Decimal,
    BeforeValidator(_check_price_text),
    Field(gt=0, max_digits=12, decimal_places=2, allow_inf_nan=False),
    # After the checks above: 1.234 is refused, not rounded.
    AfterValidator(to_cents),
    WithJsonSchema(
        {
            "anyOf": [
                {
                    "type": "number",
                    "exclusiveMinimum": 0,
                    "maximum": 9999999999.99,
                    "multipleOf": 0.01,
                },
                {"type": "string", "pattern": PRICE_TEXT},
            ],
            "examples": ["19.99"],
        },
        mode="validation",
    ),
]


class ProductCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    description: Description | None = None
    price: Price
    status: ProductStatus = ProductStatus.DRAFT


REQUIRED_FIELDS = ("name", "price", "status")


def _required_fields_not_nullable(schema: dict[str, Any]) -> None:
    """In the OpenAPI description of an update, only ``description`` may be null."""
    for field in REQUIRED_FIELDS:
        branches = schema["properties"][field]["anyOf"]
        schema["properties"][field]["anyOf"] = [b for b in branches if b != {"type": "null"}]


class ProductUpdate(BaseModel):
    """Partial update: only the fields present change; ``description`` may be null."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_required_fields_not_nullable)

    name: Name | None = None
    description: Description | None = None
    price: Price | None = None
    status: ProductStatus | None = None

    # A field validator, not a model validator, so the error names the field.
    @field_validator(*REQUIRED_FIELDS)
    @classmethod
    def _reject_null(cls, value: object) -> object:
        if value is None:
            raise ValueError("cannot be null; omit the field to leave it unchanged")
        return value


class ProductRead(BaseModel):
    id: UUID
    name: str
    description: str | None
    price: Annotated[
        Decimal,
        # Also a price stored or cached before prices were kept in cents reads as one.
        AfterValidator(to_cents),
        Field(description="Always two decimal places, as a string."),
        WithJsonSchema({"type": "string", "pattern": PRICE_OUT, "examples": ["19.99"]}),
    ]
    status: ProductStatus
    created_at: datetime
    updated_at: datetime
    version: int = Field(description="Grows by one with every change.")

    @classmethod
    def from_domain(cls, product: Product) -> Self:
        return cls.model_validate(product, from_attributes=True)
