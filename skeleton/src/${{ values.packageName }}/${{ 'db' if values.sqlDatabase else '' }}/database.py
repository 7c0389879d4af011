"""The writer's engine and the reader's, and which one a request uses."""

from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncEngine

READ_ONLY_METHODS = frozenset({"GET", "HEAD"})


@dataclass(frozen=True, slots=True)
class Database:
    writer: AsyncEngine
    reader: AsyncEngine | None = None
    reads: AsyncEngine = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "reads", for_reads(self.reader or self.writer))

    def engine_for(self, method: str) -> AsyncEngine:
        """The writer unless the request only reads, so a read-modify-write (PATCH) never
        reads from a lagging replica."""
        return self.reads if method in READ_ONLY_METHODS else self.writer

    async def dispose(self) -> None:
        await self.writer.dispose()
        if self.reader is not None:
            await self.reader.dispose()


{% if values.database == 'aurora-postgresql' %}
def for_reads(engine: AsyncEngine) -> AsyncEngine:
    """Reads run without a transaction of their own: under READ COMMITTED each statement sees
    a fresh snapshot anyway, and BEGIN and COMMIT would be two more round trips. asyncpg
    switches to autocommit without a round trip."""
    if engine.dialect.name == "postgresql":
        return engine.execution_options(isolation_level="AUTOCOMMIT")
    return engine
{% else %}
def for_reads(engine: AsyncEngine) -> AsyncEngine:
    """Reads keep their transactions: MySQL drivers would send SET autocommit on checkout
    and again on return, which costs more than the COMMIT it saves."""
    return engine
{% endif %}
