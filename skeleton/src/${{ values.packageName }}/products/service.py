"""Business rules of products; storage is behind ``ProductRepository``."""

import dataclasses
{% if values.database != 'dynamodb' %}
import math
{% endif %}
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID, uuid4

import structlog

{% if values.database == 'dynamodb' %}
from ..core.errors import BadRequestError, ConflictError, NotFoundError
{% else %}
from ..core.errors import ConflictError, NotFoundError
{% endif %}
from .models import Product, ProductStatus
{% if values.taskQueue != 'none' %}
from .notifications.events import ProductEvents
{% endif %}
{% if values.database == 'dynamodb' %}
from .repository import InvalidCursorError, ProductRepository, StaleProductError
{% else %}
from .repository import ProductRepository, StaleProductError
{% endif %}
from .schemas import ProductCreate, ProductUpdate

logger = structlog.stdlib.get_logger(__name__)


def utc_now() -> datetime:
    return datetime.now(UTC)
{% if values.database == 'dynamodb' %}


class InvalidCursor(BadRequestError):  # noqa: N818 (reads as the response it becomes)
    code = "INVALID_CURSOR"


@dataclass(frozen=True, slots=True)
class ProductListing:
    items: list[Product]
    page_size: int
    next_cursor: str | None
{% else %}


@dataclass(frozen=True, slots=True)
class ProductListing:
    items: list[Product]
    total: int
    page: int
    page_size: int

    @property
    def total_pages(self) -> int:
        return math.ceil(self.total / self.page_size)
{% endif %}


class ProductService:
    """Product use cases for one tenant's requests."""

{% if values.taskQueue != 'none' %}
    def __init__(
        self,
        repository: ProductRepository,
        clock: Callable[[], datetime] = utc_now,
        events: ProductEvents | None = None,
    ) -> None:
        """Without ``events`` nothing is published (tests of the rules alone)."""
        self._repository = repository
        self._clock = clock
        self._events = events
{% else %}
    def __init__(
        self, repository: ProductRepository, clock: Callable[[], datetime] = utc_now
    ) -> None:
        self._repository = repository
        self._clock = clock
{% endif %}

    async def create(self, tenant_id: str, data: ProductCreate) -> Product:
        now = self._clock()
        product = Product(
            tenant_id=tenant_id,
            id=uuid4(),
            name=data.name,
            description=data.description,
            price=data.price,
            status=data.status,
            created_at=now,
            updated_at=now,
        )
        await self._repository.add(product)
        logger.info("product created", product_id=str(product.id), tenant_id=tenant_id)
{% if values.taskQueue != 'none' %}
        # Only once the product is stored; a failure to enqueue does not undo it.
        if self._events is not None:
            await self._events.product_created(product)
{% endif %}
        return product

    async def get(self, tenant_id: str, product_id: UUID) -> Product:
        product = await self._repository.get(tenant_id, product_id)
        if product is None:
            raise NotFoundError("Product", product_id)
        return product
{% if values.database == 'dynamodb' %}

    async def list_products(
        self, tenant_id: str, *, cursor: str | None, page_size: int, status: ProductStatus | None
    ) -> ProductListing:
        try:
            items, next_cursor = await self._repository.list_after(
                tenant_id, cursor=cursor, limit=page_size, status=status
            )
        except InvalidCursorError:
            raise InvalidCursor(
                "The cursor is not one this listing returned; start again without it."
            ) from None
        return ProductListing(items=items, page_size=page_size, next_cursor=next_cursor)
{% else %}

    async def list_products(
        self, tenant_id: str, *, page: int, page_size: int, status: ProductStatus | None
    ) -> ProductListing:
        items, total = await self._repository.list_page(
            tenant_id, offset=(page - 1) * page_size, limit=page_size, status=status
        )
        return ProductListing(items=items, total=total, page=page, page_size=page_size)
{% endif %}

    async def update(self, tenant_id: str, product_id: UUID, changes: ProductUpdate) -> Product:
        """Apply the fields present in ``changes``; a concurrent change of the same product
        is a conflict (409), never silently overwritten."""
        product = await self.get(tenant_id, product_id)
        fields = changes.model_dump(exclude_unset=True)
        if not fields:
            return product
        updated = dataclasses.replace(
            product, **fields, updated_at=self._clock(), version=product.version + 1
        )
        try:
            stored = await self._repository.replace(updated)
        except StaleProductError:
            raise ConflictError(
                f"Product '{product_id}' was changed by another request; read it and retry.",
                details={"resource": "Product", "id": str(product_id)},
            ) from None
        if not stored:
            raise NotFoundError("Product", product_id)
        logger.info("product updated", product_id=str(product_id), fields=sorted(fields))
        return updated

    async def delete(self, tenant_id: str, product_id: UUID) -> None:
        if not await self._repository.delete(tenant_id, product_id):
            raise NotFoundError("Product", product_id)
        logger.info("product deleted", product_id=str(product_id))
