"""Products kept in process memory: lost on restart and not shared between replicas."""

from uuid import UUID

from .models import Product, ProductStatus


class InMemoryProductRepository:
    """``ProductRepository`` over a dict (insertion order is creation order)."""

    def __init__(self) -> None:
        self._products: dict[UUID, Product] = {}

    async def add(self, product: Product) -> None:
        self._products[product.id] = product

    async def get(self, product_id: UUID) -> Product | None:
        return self._products.get(product_id)

    async def list_page(
        self, *, offset: int, limit: int, status: ProductStatus | None = None
    ) -> tuple[list[Product], int]:
        matching = [
            product
            for product in self._products.values()
            if status is None or product.status is status
        ]
        return matching[offset : offset + limit], len(matching)

    async def replace(self, product: Product) -> bool:
        if product.id not in self._products:
            return False
        self._products[product.id] = product
        return True

    async def delete(self, product_id: UUID) -> bool:
        return self._products.pop(product_id, None) is not None
