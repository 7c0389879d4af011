"""The notification task's name and argument, shared by the API and the worker."""

from dataclasses import asdict, dataclass

from ..models import Product

TASK_NAME = "products.notify_product_created"


@dataclass(frozen=True, slots=True)
class ProductCreatedNotice:
    """Plain strings, so it serializes as JSON."""

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
