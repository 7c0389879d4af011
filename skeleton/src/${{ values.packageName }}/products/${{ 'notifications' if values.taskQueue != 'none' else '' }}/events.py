"""The port through which the rest of the system asks for the "product created"
notification."""

from typing import Protocol

from .notice import ProductCreatedNotice


class ProductEvents(Protocol):
    async def product_created(self, notice: ProductCreatedNotice) -> None: ...
