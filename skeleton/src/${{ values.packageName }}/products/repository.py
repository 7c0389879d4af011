"""What the service needs from product storage: one implementation per backend, every
method scoped to a tenant."""

from typing import Protocol
from uuid import UUID

{% if values.events == 'redis-streams' %}
from ..events.envelope import EventEnvelope
{% endif %}
from .models import Product
from .pagination import Page, PageRequest


class DuplicateProductError(Exception):
    """A product with this ID already exists for the tenant."""


class StaleProductError(Exception):
    """The stored product is not the version the change was based on."""


class ProductRepository(Protocol):
{% if values.events == 'redis-streams' %}
    """Each write takes the event that announces it and makes it durable only with the
    change: an event is published exactly when its change is stored. Without an event
    (tests of storage alone) only the change is written."""

{% endif %}
    async def add(self, product: Product${{ ', event: EventEnvelope | None = None' if values.events == 'redis-streams' else '' }}) -> None:
        """Store a new product; ``DuplicateProductError`` if its ID is taken."""
        ...

    async def get(self, tenant_id: str, product_id: UUID) -> Product | None: ...

    async def list_page(self, tenant_id: str, request: PageRequest) -> Page: ...

    async def replace(self, product: Product${{ ', event: EventEnvelope | None = None' if values.events == 'redis-streams' else '' }}) -> bool:
        """Store ``product`` over the stored version ``product.version - 1``; False if the
        product does not exist, ``StaleProductError`` if another version is stored."""
        ...

{% if values.events == 'redis-streams' %}
    async def delete(
        self,
        tenant_id: str,
        product_id: UUID,
        version: int | None = None,
        event: EventEnvelope | None = None,
    ) -> bool:
{% else %}
    async def delete(self, tenant_id: str, product_id: UUID, version: int | None = None) -> bool:
{% endif %}
        """Remove the tenant's product (only if ``version`` is stored, when given); False if
        it did not exist, ``StaleProductError`` if another version is stored."""
        ...
