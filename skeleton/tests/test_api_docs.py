"""The API docs (/docs, /redoc) work without internet access: every script, style and icon
they load is served by the service, from the pinned fastapi-offline package."""

import re

import pytest
from fastapi.testclient import TestClient

# Every URL an HTML page loads or links to.
LINKED = re.compile(r"""(?:src|href)=["']([^"']+)["']""")
CONTENT_TYPES = {".js": "text/javascript", ".css": "text/css", ".png": "image/png"}


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_the_docs_load_only_same_origin_assets(client: TestClient, page: str) -> None:
    response = client.get(page)

    assert response.status_code == 200
    assert "://" not in response.text
    assets = LINKED.findall(response.text)
    assert len(assets) >= 2
    for url in assets:
        assert url.startswith("/"), url
        assert not url.startswith("//"), url
        asset = client.get(url)
        assert asset.status_code == 200, url
        media_type = asset.headers["content-type"].partition(";")[0]
        assert media_type == CONTENT_TYPES[url[url.rindex(".") :]], url
        assert len(asset.content) > 1000, url


def test_the_security_headers_let_the_docs_run(client: TestClient) -> None:
    # The pages start Swagger UI and ReDoc from inline scripts: a script-src or default-src
    # in the policy would have to allow them.
    policy = client.get("/docs").headers["content-security-policy"]

    assert policy == "frame-ancestors 'none'"
