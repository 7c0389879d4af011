"""The port through which the product service tells the rest of the system what happened."""

from typing import Protocol

from ..models import Product


class ProductEvents(Protocol):
    async def product_created(self, product: Product) -> None: ...
