"""Calls to a service that a test started on this machine."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from typing import Any

TENANT = {"X-Tenant-ID": "acme"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def request_json(
    url: str, body: dict[str, Any] | None = None, auth: dict[str, str] | None = None
) -> tuple[int, Any]:
    """GET, or POST of a JSON body, acting for the tenant ``acme`` unless ``auth`` says
    otherwise; the status and the decoded answer."""
    data = json.dumps(body).encode() if body is not None else None
    headers = {**(auth or TENANT), "Content-Type": "application/json"}
    request = urllib.request.Request(url, data=data, headers=headers, method="POST" if data else "GET")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")
