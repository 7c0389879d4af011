"""The API's side of the notification: what it enqueues, behind the ``ProductEvents`` port."""

from dataclasses import asdict, dataclass
from typing import Annotated, Protocol

from fastapi import Depends, Request

from ..models import Product

TASK_NAME = "products.notify_product_created"


@dataclass(frozen=True, slots=True)
class ProductCreatedNotice:
    """The task's argument: plain strings, so it serializes as JSON."""

    product_id: str
    tenant_id: str
    name: str
    created_at: str

    @classmethod
    def of(cls, product: Product) -> "ProductCreatedNotice":
        return cls(
            product_id=str(product.id),
            tenant_id=product.tenant_id,
            name=product.name,
            created_at=product.created_at.isoformat(),
        )

    @property
    def idempotency_key(self) -> str:
        return f"product-created-{self.product_id}"

    def to_payload(self) -> dict[str, str]:
        return asdict(self)


class ProductEvents(Protocol):
    """What the product service tells the rest of the system."""

    async def product_created(self, product: Product) -> None: ...


async def get_product_events(request: Request) -> ProductEvents:
    """FastAPI dependency: the publisher the lifespan put in ``app.state.product_events``."""
    events: ProductEvents = request.app.state.product_events
    return events


ProductEventsDep = Annotated[ProductEvents, Depends(get_product_events)]
