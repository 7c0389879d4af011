"""``python -m ${{ values.packageName }}.events COMMAND``:

- ``consume``: the event consumer (its Deployment's command; ``make consume``);
- ``dead-letters list`` and ``dead-letters redrive [--id ID]``: the events set aside, and
  putting them back in the stream once the cause is fixed;
- ``replay --type TYPE [--since ISO] [--until ISO] [--max N]``: the handlers again over a
  time range of the stream; events already applied change nothing.

They need ``${{ values.envPrefix }}EVENTS_REDIS_URL``: without it the events live in the API's process.
"""

import argparse
import asyncio
import json
import os
import socket
from collections.abc import Sequence
from datetime import UTC, datetime

import uvloop

from ..core.config import ENV_PREFIX, Settings, get_settings_or_exit, refuse_to_start
from ..core.health import HealthRegistry
from ..core.logging import configure_logging
from ..core.metrics import ServiceMetrics
{% if values.traced %}
from ..core.tracing import configure_tracing
{% endif %}
from .lifespan import events_lifespan
from .runner import consume, consumer_parts, redrive, replay

# Where the consumer serves its Prometheus metrics (the Deployment's scrape annotations).
METRICS_PORT = 9100
# Dead letters listed or re-driven at once.
DEAD_LETTER_PAGE = 1000


def _moment(text: str) -> datetime:
    """An ISO 8601 time; without an offset, UTC."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"not a positive whole number: {text!r}")
    return int(text)


def parser() -> argparse.ArgumentParser:
    commands = argparse.ArgumentParser(
        prog=f"python -m {__package__}", description="The service's product events."
    )
    sub = commands.add_subparsers(dest="command", required=True)
    consume_command = sub.add_parser("consume", help="run the event consumer until SIGTERM")
    consume_command.add_argument(
        "--name", help="consumer name in the group (default: host name and process ID)"
    )
    consume_command.add_argument("--metrics-port", type=int, default=METRICS_PORT)
    dead_letters = sub.add_parser("dead-letters", help="events set aside by the consumer")
    action = dead_letters.add_subparsers(dest="action", required=True)
    action.add_parser("list", help="print each dead letter as a JSON line")
    redrive_command = action.add_parser("redrive", help="append them to the stream again")
    redrive_command.add_argument("--id", help="only this dead letter")
    replay_command = sub.add_parser("replay", help="run the handlers again over a time range")
    replay_command.add_argument("--type", required=True, dest="event_type")
    replay_command.add_argument("--since", type=_moment, help="ISO 8601 time (default: oldest)")
    replay_command.add_argument("--until", type=_moment, help="ISO 8601 time (default: newest)")
    replay_command.add_argument("--max", type=_positive, dest="max_events")
    return commands


def _stream_settings() -> Settings:
    settings = get_settings_or_exit()
    if settings.events_redis_url is None:
        refuse_to_start(
            f"{ENV_PREFIX}EVENTS_REDIS_URL is not set: without it the events live in the API's "
            "process, and nothing outside it can read them"
        )
    configure_logging(settings)
{% if values.traced %}
    configure_tracing(settings)
{% endif %}
    return settings


async def _list_dead_letters(settings: Settings) -> None:
    async with events_lifespan(settings, HealthRegistry(), ServiceMetrics()) as stream:
        for dead_letter in await stream.dead_letters(DEAD_LETTER_PAGE):
            line = {
                "id": dead_letter.id,
                "source_id": dead_letter.source_id,
                "reason": dead_letter.reason,
                "type": dead_letter.fields.get("type"),
                "tenant": dead_letter.fields.get("tenant"),
            }
            print(json.dumps(line))


async def _redrive(settings: Settings, only_id: str | None) -> int:
    async with events_lifespan(settings, HealthRegistry(), ServiceMetrics()) as stream:
        result = await redrive(stream, only_id, DEAD_LETTER_PAGE)
    for dead_letter_id in result.redriven:
        print(json.dumps({"id": dead_letter_id, "redriven": True}))
    for dead_letter_id, why in result.kept:
        print(json.dumps({"id": dead_letter_id, "redriven": False, "reason": why}))
    return 1 if result.kept else 0


async def _replay(settings: Settings, arguments: argparse.Namespace) -> int:
    async with consumer_parts(settings, ServiceMetrics()) as parts:
        try:
            result = await replay(
                parts, arguments.event_type, arguments.since, arguments.until, arguments.max_events
            )
        except ValueError as error:
            refuse_to_start(str(error))
    print(
        json.dumps(
            {
                "type": arguments.event_type,
                "applied": result.applied,
                "unchanged": result.unchanged,
                "failed": result.failed,
            }
        )
    )
    return 1 if result.failed else 0


def main(argv: Sequence[str] | None = None) -> int:
    arguments = parser().parse_args(argv)
    settings = _stream_settings()
    if arguments.command == "consume":
        name = arguments.name or f"{socket.gethostname()}-{os.getpid()}"
        # uvloop, as the API runs under uvicorn: each Redis round trip costs about a third
        # less CPU than on asyncio's own loop.
        uvloop.run(consume(settings, name, arguments.metrics_port))
        return 0
    if arguments.command == "dead-letters" and arguments.action == "list":
        asyncio.run(_list_dead_letters(settings))
        return 0
    if arguments.command == "dead-letters":
        return asyncio.run(_redrive(settings, arguments.id))
    return asyncio.run(_replay(settings, arguments))


if __name__ == "__main__":
    raise SystemExit(main())
