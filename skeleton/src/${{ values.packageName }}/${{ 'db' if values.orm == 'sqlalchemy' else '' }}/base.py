"""Base class of the ORM models; subclass it and import the module in migrations/env.py."""

from sqlalchemy.orm import DeclarativeBase

from .metadata import metadata as service_metadata


class Base(DeclarativeBase):
    """Declarative base whose tables land in the service's ``MetaData``."""

    metadata = service_metadata
