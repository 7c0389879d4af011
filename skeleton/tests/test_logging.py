"""Logs: one JSON object per line with the service fields, the correlation ID, one access
line per request (not for probes unless asked), sensitive values redacted, nothing done below
the level, and other libraries' lines at their own level."""

import json
import logging
import re
import shutil
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import structlog
from fastapi.testclient import TestClient
from structlog.typing import EventDict, WrappedLogger

from ${{ values.packageName }}.core.config import Settings
from ${{ values.packageName }}.core.logging import (
    REDACTED,
    configure_logging,
    redact,
)
from ${{ values.packageName }}.core.middleware.access_log import AccessLog
from ${{ values.packageName }}.main import create_app

ReadLogs = Callable[[], list[dict[str, Any]]]
SetEnv = Callable[[str, str], None]
# A logger of the service's own (its package's).
OWN_LOGGER = "${{ values.packageName }}.tests"
ENV_EXAMPLE = Path(__file__).resolve().parents[1] / ".env.example"

REQUIRED_FIELDS = {
    "timestamp",
    "level",
    "logger",
    "event",
    "service",
    "version",
    "environment",
    "correlation_id",
}


def test_log_line_is_json_with_service_fields(settings: Settings, read_logs: ReadLogs) -> None:
    configure_logging(settings)

    structlog.get_logger(OWN_LOGGER).info("something happened", order_id=7)

    (line,) = read_logs()
    assert line.keys() >= REQUIRED_FIELDS
    assert line["event"] == "something happened"
    assert line["level"] == "info"
    assert line["order_id"] == 7
    assert line["logger"] == OWN_LOGGER
    assert line["service"] == settings.service_name
    assert line["version"] == settings.version
    assert line["environment"] == "local"
    assert line["correlation_id"] is None
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", line["timestamp"])
    logged_at = datetime.fromisoformat(line["timestamp"]).timestamp()
    assert abs(time.time() - logged_at) < 5


def test_values_json_cannot_hold_natively_are_still_logged(
    settings: Settings, read_logs: ReadLogs
) -> None:
    configure_logging(settings)

    structlog.get_logger(OWN_LOGGER).info(
        "odd values", huge=2**70, by_number={1: "one"}, thing=SimpleNamespace(a=1)
    )

    (line,) = read_logs()
    assert line["huge"] == 2**70
    assert line["by_number"] == {"1": "one"}
    assert line["thing"] == "namespace(a=1)"


def test_standard_library_records_are_json_too(settings: Settings, read_logs: ReadLogs) -> None:
    configure_logging(settings)

    logging.getLogger("some.library").warning("disk %s", "full")

    (line,) = read_logs()
    assert line["event"] == "disk full"
    assert line["level"] == "warning"
    assert line.keys() >= REQUIRED_FIELDS


def test_level_below_threshold_is_dropped(settings: Settings, read_logs: ReadLogs) -> None:

    configure_logging(settings)

    structlog.get_logger(OWN_LOGGER).debug("noise")

    assert read_logs() == []


def test_other_libraries_log_at_their_own_level(
    make_settings: Callable[..., Settings], read_logs: ReadLogs
) -> None:
    configure_logging(make_settings(log_level="DEBUG"))

    logging.getLogger("some.library").info("routine")
    structlog.get_logger(OWN_LOGGER).debug("detail")
    logging.getLogger("some.library").warning("trouble")

    assert [line["event"] for line in read_logs()] == ["detail", "trouble"]

    configure_logging(make_settings(log_level="WARNING", log_level_third_party="INFO"))

    logging.getLogger("some.library").info("routine")
    structlog.get_logger(OWN_LOGGER).info("detail")

    assert [line["event"] for line in read_logs()] == ["routine"]


def scope_of(route: str) -> dict[str, Any]:
    """The parts of a request's ASGI scope the access log reads."""
    return {"type": "http", "method": "GET", "route": SimpleNamespace(path=route)}


def test_below_its_level_a_line_costs_no_processing(
    make_settings: Callable[..., Settings], read_logs: ReadLogs
) -> None:
    """No processor runs for a line below the level: not for the access line, not for the
    service's other lines."""
    processed: list[str] = []

    def count(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
        processed.append(event_dict["event"])
        return event_dict

    for level, expected in (("WARNING", []), ("INFO", ["request", "noted"])):
        configure_logging(make_settings(log_level=level))
        structlog.configure(processors=[count, *structlog.get_config()["processors"]])

        AccessLog(log_probes=False)(scope_of("/api/v1/products"), 200, 0.001)
        structlog.get_logger(OWN_LOGGER).info("noted")

        assert processed == expected
        assert [line["event"] for line in read_logs()] == expected
        processed.clear()


def test_logs_are_readable_locally_and_json_elsewhere(
    make_settings: Callable[..., Settings], capsys: pytest.CaptureFixture[str]
) -> None:
    for environment, json_lines in (("local", False), ("production", True)):
        configure_logging(make_settings(environment=environment, log_json=None))

        structlog.get_logger(OWN_LOGGER).info("hello", answer=42)
        logging.getLogger("some.library").warning("disk %s", "full")

        own, library = capsys.readouterr().out.splitlines()
        assert own.startswith("{") is json_lines, own
        assert library.startswith("{") is json_lines, library
        assert "hello" in own
        assert "answer" in own
        assert "disk full" in library


def test_a_local_run_with_the_example_settings_logs_only_the_service_s_lines(
    set_env: SetEnv, read_logs: ReadLogs
) -> None:
    """``.env.example`` as shipped (LOG_LEVEL=DEBUG, the local stand-ins): starting and one
    product read write the service's own lines, none of the libraries' DEBUG chatter."""
    shutil.copy(ENV_EXAMPLE, ".env")  # the working directory is the test's own
    set_env("LOG_JSON", "true")  # to read the lines back; everything else as shipped
    settings = Settings()
    assert (settings.log_level, settings.environment) == ("DEBUG", "local")

    with TestClient(create_app(settings)) as client:
{% if values.auth == 'jwt' %}
        token = client.post("/local/token", json={}).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
{% else %}
        headers = {"X-Tenant-ID": "tenant-a"}
{% endif %}
        started = read_logs()
        response = client.get("/api/v1/products", headers=headers)
        read = read_logs()

    assert response.status_code == 200
    own = ("${{ values.packageName }}.", "access")
    assert [line for line in started + read if not line["logger"].startswith(own)] == []
    assert [line["event"] for line in read if line["logger"] == "access"] == ["request"]


def test_uvicorn_access_log_is_replaced_not_formatted(
    settings: Settings, read_logs: ReadLogs
) -> None:
    configure_logging(settings)

    uvicorn_access = logging.getLogger("uvicorn.access")
    # uvicorn builds its access line for every request when this is true.
    assert not uvicorn_access.hasHandlers()
    uvicorn_access.warning('127.0.0.1:5000 - "GET /health/live HTTP/1.1" 200')
    assert read_logs() == []


def test_sensitive_values_are_redacted_recursively(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging(settings)

    structlog.get_logger(OWN_LOGGER).info(
        "login",
        password="hunter2",
        user="ada",
        headers={"Authorization": "Bearer abc", "Accept": "json", "Cookie": "s=1"},
        attempts=[{"refresh_token": "xyz", "ok": False}],
        client_secret="shh",
    )

    output = capsys.readouterr().out
    (line,) = [json.loads(text) for text in output.splitlines()]
    assert line["password"] == REDACTED
    assert line["client_secret"] == REDACTED
    assert line["user"] == "ada"
    assert line["headers"] == {"Authorization": REDACTED, "Accept": "json", "Cookie": REDACTED}
    assert line["attempts"] == [{"refresh_token": REDACTED, "ok": False}]
    for secret in ("hunter2", "Bearer abc", "xyz", "shh"):
        assert secret not in output


def test_redact_leaves_other_values() -> None:
    value = {"a": [1, {"b": "c"}], "api_key": 1}

    assert redact(value) == {"a": [1, {"b": "c"}], "api_key": REDACTED}


def test_one_access_line_per_request_with_route_template(
    client: TestClient, read_logs: ReadLogs
) -> None:
    read_logs()

    response = client.get(
        "/api/v1/products/00000000-0000-0000-0000-000000000000",
        headers={"X-Correlation-ID": "trace-me"},
    )

    lines = read_logs()
    access = [line for line in lines if line["event"] == "request"]
    assert len(access) == 1
    (entry,) = access
    assert entry["method"] == "GET"
    assert entry["route"] == "/api/v1/products/{product_id}"
    assert entry["status"] == response.status_code == 404
    assert isinstance(entry["duration_ms"], float | int)
    assert entry["correlation_id"] == "trace-me"
    assert entry.keys() >= REQUIRED_FIELDS
    assert entry["logger"] == "access"
    assert all(line["correlation_id"] == "trace-me" for line in lines)


PROBES = ("/health/live", "/health/ready", "/health/startup")


@pytest.mark.parametrize("log_probes", [False, True])
def test_probes_are_logged_only_when_asked(
    make_settings: Callable[..., Settings],
    tenant_headers: Callable[[str], dict[str, str]],
    read_logs: ReadLogs,
    log_probes: bool,
) -> None:
    """The orchestrator's probes (every few seconds on every replica) write no access line,
    unless LOG_PROBES is true; other requests always do."""
    app = create_app(make_settings(log_probes=log_probes))

    with TestClient(app) as client:
        read_logs()
        for probe in PROBES:
            assert client.get(probe).status_code == 200
        assert client.get("/api/v1/products", headers=tenant_headers("t")).status_code == 200
        logged = [line["route"] for line in read_logs() if line["logger"] == "access"]

    expected = [*PROBES, "/api/v1/products"] if log_probes else ["/api/v1/products"]
    assert logged == expected


def test_a_correlation_id_shaped_like_a_token_is_redacted(
    client: TestClient, read_logs: ReadLogs
) -> None:
    """A caller chooses its correlation ID, so it passes the redaction too: one shaped like
    a signed token (base64url JSON) is not written, on the access line or any other."""
    token_like = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"
    read_logs()

    client.get("/api/v1/products", headers={"X-Correlation-ID": token_like})

    lines = read_logs()
    assert [line["correlation_id"] for line in lines if line["logger"] == "access"] == [REDACTED]
    assert token_like not in json.dumps(lines)


SECRETS = (
    "SECRET-QUERY",
    "SECRET-PASSWORD",
    "SECRET-TOKEN",
    "SECRET-COOKIE",
    "SECRET-KEY",
    "hunter2",
    "eyJzdWIiOiJ4In0",
)


def test_secrets_never_reach_the_logs(
    make_settings: Callable[..., Settings],
    tenant_headers: Callable[[str], dict[str, str]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Tokens, cookies, passwords and query-string tokens, in headers, URLs, exception
    messages and log fields, at every level: none is in what the service writes."""
    app = create_app(make_settings(log_level="DEBUG"))

    @app.get("/test/fail")
    async def fail() -> None:
        raise RuntimeError(
            "upstream https://user:hunter2@api.example.com/x?token=SECRET-QUERY refused "
            "Bearer SECRET-TOKEN-2"
        )

    headers = tenant_headers("t")
    with TestClient(app, raise_server_exceptions=False) as client:
        listed = client.get(
            "/api/v1/products?access_token=SECRET-QUERY&password=SECRET-PASSWORD",
            headers={**headers, "Cookie": "session=SECRET-COOKIE"},
        )
        failed = client.get(
            "/test/fail?api_key=SECRET-KEY", headers={"Authorization": "Bearer SECRET-TOKEN"}
        )
        structlog.get_logger(OWN_LOGGER).info(
            "calling upstream",
            url="https://api.example.com/v1?sig=1&client_secret=SECRET-KEY",
            note="sent Bearer eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl",
        )

    captured = capsys.readouterr()
    output = captured.out + captured.err
    assert (listed.status_code, failed.status_code) == (200, 500)
    assert "unhandled exception" in output  # the failure was logged, traceback included
    assert REDACTED in output
    tokens = [value for name, value in headers.items() if name == "Authorization"]
    leaked = [secret for secret in (*SECRETS, *tokens) if secret in output]
    assert leaked == []
