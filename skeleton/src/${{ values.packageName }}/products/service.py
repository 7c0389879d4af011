"""Business rules of products; storage is behind ``ProductRepository``."""

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID, uuid4

import structlog

from ..core.errors import NotFoundError
from .models import Product, ProductStatus
from .repository import ProductRepository
from .schemas import ProductCreate, ProductUpdate

logger = structlog.stdlib.get_logger(__name__)


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class ProductListing:
    items: list[Product]
    total: int
    page: int
    page_size: int

    @property
    def total_pages(self) -> int:
        return math.ceil(self.total / self.page_size)


class ProductService:
    def __init__(
        self, repository: ProductRepository, clock: Callable[[], datetime] = utc_now
    ) -> None:
        self._repository = repository
        self._clock = clock

    async def create(self, data: ProductCreate) -> Product:
        now = self._clock()
        product = Product(
            id=uuid4(),
            name=data.name,
            description=data.description,
            price=data.price,
            status=data.status,
            created_at=now,
            updated_at=now,
        )
        await self._repository.add(product)
        logger.info("product created", product_id=str(product.id))
        return product

    async def get(self, product_id: UUID) -> Product:
        product = await self._repository.get(product_id)
        if product is None:
            raise NotFoundError("Product", product_id)
        return product

    async def list_products(
        self, *, page: int, page_size: int, status: ProductStatus | None = None
    ) -> ProductListing:
        items, total = await self._repository.list_page(
            offset=(page - 1) * page_size, limit=page_size, status=status
        )
        return ProductListing(items=items, total=total, page=page, page_size=page_size)

    async def update(self, product_id: UUID, changes: ProductUpdate) -> Product:
        product = await self.get(product_id)
        fields = changes.model_dump(exclude_unset=True)
        if not fields:
            return product
        updated = dataclasses.replace(product, **fields, updated_at=self._clock())
        if not await self._repository.replace(updated):
            raise NotFoundError("Product", product_id)
        logger.info("product updated", product_id=str(product_id), fields=sorted(fields))
        return updated

    async def delete(self, product_id: UUID) -> None:
        if not await self._repository.delete(product_id):
            raise NotFoundError("Product", product_id)
        logger.info("product deleted", product_id=str(product_id))
