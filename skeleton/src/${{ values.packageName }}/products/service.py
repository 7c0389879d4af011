"""Business rules of products; storage is behind ``ProductRepository``.{% if values.events == 'redis-streams' %} Each change is
announced by an event (``products.event_payloads``), built and checked against its schema
before the write, and handed to the repository with it.{% endif %}"""

import dataclasses
from collections.abc import Callable
from datetime import UTC, datetime
from uuid import UUID, uuid4

import structlog

from ..core.errors import ConflictError, NotFoundError, PreconditionFailedError
{% if values.events == 'redis-streams' %}
from .event_payloads import PRODUCT_EVENTS, ProductCreatedV2, ProductDeletedV1, ProductUpdatedV1
{% endif %}
from .models import Product
{% if values.apiQueuesNotifications %}
from .notifications.events import ProductEvents
from .notifications.notice import ProductCreatedNotice
{% endif %}
from .pagination import Page, PageRequest
from .repository import ProductRepository, StaleProductError
from .schemas import ProductCreate, ProductUpdate

logger = structlog.get_logger(__name__)


def utc_now() -> datetime:
    return datetime.now(UTC)


class ProductService:
{% if values.apiQueuesNotifications %}
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
            tenant_id=tenant_id, id=uuid4(), created_at=now, updated_at=now, **data.model_dump()
        )
{% if values.events == 'redis-streams' %}
        event = PRODUCT_EVENTS.envelope(ProductCreatedV2.of(product), tenant_id)
        await self._repository.add(product, event)
{% else %}
        await self._repository.add(product)
{% endif %}
        logger.info("product created", product_id=str(product.id), tenant_id=tenant_id)
{% if values.apiQueuesNotifications %}
        # Only once the product is stored; a failure to enqueue does not undo it.
        if self._events is not None:
            await self._events.product_created(ProductCreatedNotice.of(product))
{% endif %}
        return product

    async def get(self, tenant_id: str, product_id: UUID) -> Product:
        product = await self._repository.get(tenant_id, product_id)
        if product is None:
            raise NotFoundError("Product", product_id)
        return product

    async def list_products(self, tenant_id: str, request: PageRequest) -> Page:
        return await self._repository.list_page(tenant_id, request)

    async def update(
        self,
        tenant_id: str,
        product_id: UUID,
        changes: ProductUpdate,
        expected_versions: frozenset[int] | None = None,
    ) -> Product:
        """With ``expected_versions`` (``If-Match``) the product must stay at one of them
        through to the write (else 412); without, a concurrent change is a conflict (409)."""
        product = await self.get(tenant_id, product_id)
        _check_precondition(product, expected_versions)
        fields = changes.model_dump(exclude_unset=True)
        if not fields:
            return product
        updated = dataclasses.replace(
            product, **fields, updated_at=self._clock(), version=product.version + 1
        )
{% if values.events == 'redis-streams' %}
        event = PRODUCT_EVENTS.envelope(ProductUpdatedV1.of(updated, list(fields)), tenant_id)
{% endif %}
        try:
            # Written only over the version read (and checked) above.
            stored = await self._repository.replace(updated${{ ', event' if values.events == 'redis-streams' else '' }})
        except StaleProductError:
            if expected_versions is not None:
                raise _precondition_failed(product_id) from None
            raise ConflictError(
                f"Product '{product_id}' was changed by another request; read it and retry.",
                details={"resource": "Product", "id": str(product_id)},
            ) from None
        if not stored:
            raise NotFoundError("Product", product_id)
        logger.info("product updated", product_id=str(product_id), fields=sorted(fields))
        return updated

    async def delete(
        self, tenant_id: str, product_id: UUID, expected_versions: frozenset[int] | None = None
    ) -> None:
        version = None
        if expected_versions is not None:
            product = await self.get(tenant_id, product_id)
            _check_precondition(product, expected_versions)
            version = product.version
{% if values.events == 'redis-streams' %}
        event = PRODUCT_EVENTS.envelope(
            ProductDeletedV1(product_id=product_id, deleted_at=self._clock()), tenant_id
        )
{% endif %}
        try:
            # With a version, deleted only if that version is still stored.
            deleted = await self._repository.delete(tenant_id, product_id, version${{ ', event' if values.events == 'redis-streams' else '' }})
        except StaleProductError:
            raise _precondition_failed(product_id) from None
        if not deleted:
            raise NotFoundError("Product", product_id)
        logger.info("product deleted", product_id=str(product_id))


def _check_precondition(product: Product, expected_versions: frozenset[int] | None) -> None:
    if expected_versions is not None and product.version not in expected_versions:
        raise _precondition_failed(product.id)


def _precondition_failed(product_id: UUID) -> PreconditionFailedError:
    return PreconditionFailedError(
        f"Product '{product_id}' is not at the version If-Match names; read it and retry.",
        details={"resource": "Product", "id": str(product_id)},
    )
