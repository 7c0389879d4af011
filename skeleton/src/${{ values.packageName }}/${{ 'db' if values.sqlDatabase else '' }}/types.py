{% if values.database == 'aurora-postgresql' %}
"""Column types that read back exactly what was written, on every backend the service runs
on: Aurora PostgreSQL and the local SQLite stand-in."""
{% else %}
"""Column types that read back exactly what was written, on every backend the service runs
on: Aurora MySQL (and MariaDB) and the local SQLite stand-in."""
{% endif %}

from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import TypeVar

from sqlalchemy import DateTime, Dialect, Numeric, String
{% if values.database == 'aurora-mysql' %}
from sqlalchemy.dialects import mysql
{% endif %}
from sqlalchemy.types import TypeDecorator, TypeEngine

CENT = Decimal("0.01")

E = TypeVar("E", bound=StrEnum)


class UtcDateTime(TypeDecorator[datetime]):
    """An aware datetime stored in UTC, read back aware in UTC with its microseconds.

{% if values.database == 'aurora-postgresql' %}
    PostgreSQL keeps the zone (``timestamptz``); SQLite keeps none, so it stores naive UTC."""

    impl = DateTime(timezone=True)
    cache_ok = True
{% else %}
    MySQL's ``DATETIME`` and SQLite keep no zone, so they store naive UTC, and MySQL needs
    ``fsp=6`` to keep microseconds."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[datetime]:
        if dialect.name in ("mysql", "mariadb"):
            return dialect.type_descriptor(mysql.DATETIME(fsp=6))
        return dialect.type_descriptor(DateTime(timezone=True))
{% endif %}

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are ambiguous: pass an aware one")
        in_utc = value.astimezone(UTC)
{% if values.database == 'aurora-postgresql' %}
        return in_utc if dialect.name == "postgresql" else in_utc.replace(tzinfo=None)
{% else %}
        return in_utc.replace(tzinfo=None)
{% endif %}

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Money(TypeDecorator[Decimal]):
    """``NUMERIC(12, 2)``; SQLite has no decimal type and would round through a float, so
    there the value is stored as text."""

    impl = Numeric(12, 2)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Decimal] | TypeEngine[str]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(14))
        return dialect.type_descriptor(Numeric(12, 2))

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Decimal | str | None:
        if value is None or dialect.name != "sqlite":
            return value
        return str(value.quantize(CENT))

    def process_result_value(self, value: object, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return value if isinstance(value, Decimal) else Decimal(str(value))


class EnumText(TypeDecorator[E]):
    """A ``StrEnum`` member stored as its value in a ``VARCHAR(length)``, read back as the
    member."""

    impl = String
    cache_ok = True

    def __init__(self, enum: type[E], length: int) -> None:
        super().__init__(length)
        # Named after the argument: SQLAlchemy builds the statement cache key from it.
        self.enum = enum

    def process_bind_param(self, value: E | str | None, dialect: Dialect) -> str | None:
        return None if value is None else self.enum(value).value

    def process_result_value(self, value: str | None, dialect: Dialect) -> E | None:
        return None if value is None else self.enum(value)
