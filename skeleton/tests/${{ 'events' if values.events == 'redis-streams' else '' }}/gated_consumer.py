"""The service's event consumer, run as its own process for the tests, with each handler
stopped at a gate: ``python gated_consumer.py GATE_FOLDER before|after``.

On reaching the gate (before or after the handler's effect) the handler creates
``GATE_FOLDER/entered`` and waits until the test creates ``GATE_FOLDER/open``, so a test can
kill or stop the process while it holds an event. Everything else is the service's own:
settings, stream, projection, consumer loop, signal handling."""

import asyncio
import os
import sys
from pathlib import Path

from pydantic import BaseModel

from ${{ values.packageName }}.core.config import get_settings_or_exit
from ${{ values.packageName }}.core.logging import configure_logging
from ${{ values.packageName }}.core.metrics import ServiceMetrics
from ${{ values.packageName }}.events.envelope import EventEnvelope
from ${{ values.packageName }}.events.handlers import EventHandler
from ${{ values.packageName }}.events.runner import (
    ConsumerParts,
    consumer_parts,
    group_consumer,
    run_until_signalled,
)


def gated(handler: EventHandler, gate: Path, after_effect: bool) -> EventHandler:
    async def wait_at_gate() -> None:
        (gate / "entered").touch()
        # The test opens the gate from its own process: a file is what both can see.
        while True:
            if (gate / "open").exists():
                return
            await asyncio.sleep(0.05)

    async def handle(envelope: EventEnvelope, event: BaseModel) -> bool:
        if not after_effect:
            await wait_at_gate()
        applied = await handler(envelope, event)
        if after_effect:
            await wait_at_gate()
        return applied

    return handle


async def main(gate: Path, after_effect: bool) -> None:
    settings = get_settings_or_exit()
    configure_logging(settings)
    metrics = ServiceMetrics()
    async with consumer_parts(settings, metrics) as parts:
        handlers = {
            event_type: gated(handler, gate, after_effect)
            for event_type, handler in parts.handlers.items()
        }
        gated_parts = ConsumerParts(parts.stream, handlers)
        name = f"gated-{os.getpid()}"
        await run_until_signalled(group_consumer(settings, gated_parts, metrics, name))


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), sys.argv[2] == "after"))
