"""Bearer-token authentication and authorisation against keys the tests make themselves:
an identity provider's JWKS served over HTTP by a local server, or a PEM public key.

Every way a token can be wrong answers 401 with ``WWW-Authenticate: Bearer`` in the error
envelope; a token without the role or the tenant 403; health and metrics stay open."""

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Annotated, Any

import httpx2
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fastapi import Depends
from fastapi.testclient import TestClient
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from ${{ values.packageName }}.auth.access import PrincipalDep, require_role
from ${{ values.packageName }}.auth.keys import JwksKeys
from ${{ values.packageName }}.auth.tokens import Principal
from ${{ values.packageName }}.core.config import ENV_PREFIX, Settings, SettingsError, load_settings
from ${{ values.packageName }}.core.tenancy import TENANT_ID_HEADER
from ${{ values.packageName }}.main import create_app

BASE = "/api/v1/products"
ISSUER = "https://id.example.com/"
AUDIENCE = "${{ values.name }}"
LEEWAY = 30
SetEnv = Callable[[str, str], None]

pytestmark = pytest.mark.anyio


class Key:
    """A signing key of the test identity provider."""

    def __init__(self, kid: str, algorithm: str = "RS256") -> None:
        self.kid = kid
        self.algorithm = algorithm
        self.private: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
        if algorithm.startswith("ES"):
            self.private = ec.generate_private_key(ec.SECP256R1())
            self.jwk = json.loads(ECAlgorithm.to_jwk(self.private.public_key()))
        else:
            self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            self.jwk = json.loads(RSAAlgorithm.to_jwk(self.private.public_key()))
        self.jwk |= {"kid": kid, "use": "sig", "alg": algorithm}
        self.public_pem = self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def sign(self, claims: dict[str, Any], **headers: Any) -> str:
        return jwt.encode(
            claims, self.private, algorithm=self.algorithm, headers={"kid": self.kid, **headers}
        )


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    valid = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "user-1",
        "iat": now,
        "exp": now + 300,
        "tenant_id": "tenant-a",
        "roles": ["reader", "writer"],
    }
    return {key: value for key, value in (valid | overrides).items() if value is not None}


def unsigned(header: dict[str, Any], payload: dict[str, Any], secret: bytes | None) -> str:
    """A token built by hand: HS256 over ``secret``, or with no signature at all."""

    def part(value: bytes) -> str:
        return base64.urlsafe_b64encode(value).rstrip(b"=").decode()

    signing_input = f"{part(json.dumps(header).encode())}.{part(json.dumps(payload).encode())}"
    signature = b""
    if secret is not None:
        signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{part(signature)}"


class IdentityProvider:
    """Serves a JWKS over HTTP on a local port; counts the fetches; can fail."""

    def __init__(self) -> None:
        self.keys: list[Key] = []
        self.fetches = 0
        self.failing = False
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                provider.fetches += 1
                if provider.failing:
                    self.send_error(500)
                    return
                body = json.dumps({"keys": [key.jwk for key in provider.keys]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/.well-known/jwks.json"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def __enter__(self) -> "IdentityProvider":
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def key() -> Key:
    return Key("key-1")


@pytest.fixture
def provider(key: Key) -> Iterator[IdentityProvider]:
    with IdentityProvider() as running:
        running.keys = [key]
        yield running


@pytest.fixture
def jwks_settings(make_settings: Callable[..., Settings], provider: IdentityProvider) -> Settings:
    return make_settings(jwt_public_key=None, jwt_jwks_url=provider.url)


@pytest.fixture
def api(jwks_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(jwks_settings), raise_server_exceptions=False) as client:
        yield client


def get(client: TestClient, token: str, path: str = BASE) -> Any:
    return client.get(path, headers={"Authorization": f"Bearer {token}"})


def test_valid_token_from_the_jwks_is_accepted(api: TestClient, key: Key) -> None:
    response = get(api, key.sign(claims()))

    assert response.status_code == 200, response.text


def test_missing_token_is_401_envelope_with_challenge(api: TestClient) -> None:
    response = api.get(BASE, headers={"X-Correlation-ID": "auth-1"})

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert response.json() == {
        "error": "UNAUTHORIZED",
        "message": "A bearer token is required.",
        "correlation_id": "auth-1",
    }


def forged(key: Key, case: str) -> str:
    """A token that must be refused, by what is wrong with it."""
    now = int(time.time())
    header = {"alg": "RS256", "typ": "JWT", "kid": key.kid}
    tokens: dict[str, Callable[[], str]] = {
        "not a JWT": lambda: "not-a-jwt",
        "alg none": lambda: unsigned({**header, "alg": "none"}, claims(), None),
        "HS256 signed with the public key": lambda: unsigned(
            {**header, "alg": "HS256"}, claims(), key.public_pem
        ),
        "signed by another key": lambda: Key(key.kid).sign(claims()),
        "signature of another token": lambda: (
            key.sign(claims()).rsplit(".", 1)[0]
            + "."
            + key.sign(claims(sub="admin")).rsplit(".", 1)[1]
        ),
        "wrong issuer": lambda: key.sign(claims(iss="https://evil.example.com/")),
        "issuer with the expected one as prefix": lambda: key.sign(claims(iss=ISSUER + "evil")),
        "issuer that is a prefix of the expected one": lambda: key.sign(claims(iss=ISSUER[:-1])),
        "issuer list": lambda: jwt.PyJWS().encode(
            json.dumps(claims(iss=[ISSUER])).encode(),
            key.private,
            algorithm="RS256",
            headers={"kid": key.kid},
        ),
        "wrong audience": lambda: key.sign(claims(aud="another-api")),
        "expired": lambda: key.sign(claims(exp=now - LEEWAY - 5)),
        "not yet valid": lambda: key.sign(claims(nbf=now + LEEWAY + 60)),
        "issued in the future": lambda: key.sign(claims(iat=now + LEEWAY + 60)),
        "missing exp": lambda: key.sign(claims(exp=None)),
        "missing iss": lambda: key.sign(claims(iss=None)),
        "missing aud": lambda: key.sign(claims(aud=None)),
        "missing sub": lambda: key.sign(claims(sub=None)),
        "unknown kid": lambda: Key("key-unknown").sign(claims()),
        "no kid": lambda: jwt.encode(claims(), key.private, algorithm="RS256"),
        "crit header": lambda: key.sign(claims(), crit=["exp"]),
        "crit b64 header": lambda: key.sign(claims(), crit=["b64"], b64=True),
        "algorithm not allowed": lambda: jwt.encode(
            claims(), key.private, algorithm="PS256", headers={"kid": key.kid}
        ),
    }
    return tokens[case]()


@pytest.mark.parametrize(
    "case",
    [
        "not a JWT",
        "alg none",
        "HS256 signed with the public key",
        "signed by another key",
        "signature of another token",
        "wrong issuer",
        "issuer with the expected one as prefix",
        "issuer that is a prefix of the expected one",
        "issuer list",
        "wrong audience",
        "expired",
        "not yet valid",
        "issued in the future",
        "missing exp",
        "missing iss",
        "missing aud",
        "missing sub",
        "unknown kid",
        "no kid",
        "crit header",
        "crit b64 header",
        "algorithm not allowed",
    ],
)
def test_bad_token_is_401(api: TestClient, key: Key, case: str) -> None:
    token = forged(key, case)

    response = get(api, token)

    assert response.status_code == 401, response.text
    assert response.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
    assert response.json()["error"] == "UNAUTHORIZED"


def test_expired_token_says_so(api: TestClient, key: Key) -> None:
    response = get(api, key.sign(claims(exp=int(time.time()) - LEEWAY - 5)))

    assert response.json()["message"] == "The bearer token has expired."


@pytest.mark.parametrize(
    "times",
    [
        {"exp": -(LEEWAY - 10)},  # expired 20 s ago: within the leeway
        {"nbf": LEEWAY - 10},  # valid in 20 s
        {"iat": LEEWAY - 10},  # issued by a clock 20 s ahead
    ],
)
def test_token_within_the_clock_skew_leeway_is_accepted(
    api: TestClient, key: Key, times: dict[str, int]
) -> None:
    now = int(time.time())
    token = key.sign(claims(**{name: now + offset for name, offset in times.items()}))

    assert get(api, token).status_code == 200


def test_audience_list_containing_this_api_is_accepted(api: TestClient, key: Key) -> None:
    assert get(api, key.sign(claims(aud=["another-api", AUDIENCE]))).status_code == 200


def test_other_schemes_and_empty_tokens_are_401(api: TestClient) -> None:
    for value in ("Basic dXNlcjpwYXNz", "Bearer", "Bearer ", "Token abc"):
        response = api.get(BASE, headers={"Authorization": value})
        assert response.status_code == 401, value
        assert response.headers["WWW-Authenticate"] == "Bearer"


def test_reads_need_the_read_role_and_writes_the_write_role(api: TestClient, key: Key) -> None:
    reader = {"Authorization": f"Bearer {key.sign(claims(roles=['reader']))}"}
    writer = {"Authorization": f"Bearer {key.sign(claims(roles=['writer']))}"}
    nobody = {"Authorization": f"Bearer {key.sign(claims(roles=['other']))}"}
    body = {"name": "Widget", "price": "1.00"}

    created = api.post(BASE, json=body, headers=writer)
    url = f"{BASE}/{created.json()['id']}"

    assert created.status_code == 201
    assert api.get(url, headers=writer).status_code == 200  # the write role reads too
    assert api.get(url, headers=reader).status_code == 200
    for refused in (
        api.post(BASE, json=body, headers=reader),
        api.patch(url, json={"name": "x"}, headers=reader),
        api.delete(url, headers=reader),
        api.get(url, headers=nobody),
    ):
        assert refused.status_code == 403
        assert refused.json()["error"] == "FORBIDDEN"
        assert refused.headers["WWW-Authenticate"] == 'Bearer error="insufficient_scope"'


def test_roles_may_be_a_space_separated_claim(
    make_settings: Callable[..., Settings], provider: IdentityProvider, key: Key
) -> None:
    settings = make_settings(
        jwt_public_key=None, jwt_jwks_url=provider.url, jwt_roles_claim="scope"
    )
    token = key.sign(claims(roles=None, scope="openid reader"))
    with TestClient(create_app(settings)) as client:
        assert get(client, token).status_code == 200


def test_the_tenant_is_the_tokens_claim(api: TestClient, key: Key) -> None:
    tenant_a = {"Authorization": f"Bearer {key.sign(claims(tenant_id='tenant-a'))}"}
    tenant_b = {"Authorization": f"Bearer {key.sign(claims(tenant_id='tenant-b'))}"}
    product = api.post(BASE, json={"name": "a's", "price": "1.00"}, headers=tenant_a).json()
    url = f"{BASE}/{product['id']}"

    assert api.get(url, headers=tenant_a).status_code == 200
    assert api.get(url, headers=tenant_b).status_code == 404
    # The header cannot move a caller to another tenant; naming the token's own is fine.
    other = api.get(url, headers={**tenant_b, TENANT_ID_HEADER: "tenant-a"})
    assert other.status_code == 403
    assert other.json()["message"] == f"The {TENANT_ID_HEADER} header names another tenant."
    assert api.get(url, headers={**tenant_a, TENANT_ID_HEADER: "tenant-a"}).status_code == 200


@pytest.mark.parametrize("tenant_id", [None, "", "-bad", "x" * 101, 7])
def test_token_without_a_valid_tenant_is_403(api: TestClient, key: Key, tenant_id: Any) -> None:
    response = get(api, key.sign(claims(tenant_id=tenant_id)))

    assert response.status_code == 403
    assert response.json()["message"] == "The bearer token names no valid tenant."


def test_health_metrics_and_docs_stay_open(api: TestClient) -> None:
    for path in ("/health/live", "/health/ready", "/metrics", "/openapi.json"):
        assert api.get(path).status_code == 200, path


def test_openapi_declares_the_bearer_scheme_on_product_routes(api: TestClient) -> None:
    schema = api.get("/openapi.json").json()

    scheme = schema["components"]["securitySchemes"]["bearer"]
    assert {key: scheme[key] for key in ("type", "scheme", "bearerFormat")} == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
    }
    assert "RFC8725" in scheme["description"]
    operations = [op for path in schema["paths"].values() for op in path.values()]
    products = [op for op in operations if "products" in op.get("tags", [])]
    assert products
    assert all(op["security"] == [{"bearer": []}] for op in products)
    assert all({"401", "403"} <= op["responses"].keys() for op in products)
    assert "security" not in schema["paths"]["/health/live"]["get"]
    assert "/local/token" not in schema["paths"]


def test_require_role_and_principal_dependencies(jwks_settings: Settings, key: Key) -> None:
    app = create_app(jwks_settings)

    @app.get("/test/admin")
    async def admin(principal: Annotated[Principal, Depends(require_role("admin"))]) -> str:
        return principal.subject

    @app.get("/test/me")
    async def me(principal: PrincipalDep) -> list[str]:
        return sorted(principal.roles)

    with TestClient(app) as api:
        assert get(api, key.sign(claims(roles=["admin"])), "/test/admin").json() == "user-1"
        assert get(api, key.sign(claims(roles=["reader"])), "/test/admin").status_code == 403
        assert get(api, key.sign(claims(roles=[])), "/test/me").json() == []
        assert api.get("/test/me").status_code == 401
    with pytest.raises(ValueError, match="at least one role"):
        require_role()


def test_rate_limit_is_per_token_subject(
    make_settings: Callable[..., Settings], provider: IdentityProvider, key: Key
) -> None:
    settings = make_settings(jwt_public_key=None, jwt_jwks_url=provider.url, rate_limit_requests=2)
    alice = key.sign(claims(sub="alice"))
    bob = key.sign(claims(sub="bob"))
    with TestClient(create_app(settings)) as client:
        alice_statuses = [get(client, alice).status_code for _ in range(3)]
        bob_statuses = [get(client, bob).status_code for _ in range(2)]

    assert alice_statuses == [200, 200, 429]
    assert bob_statuses == [200, 200]


def test_the_jwks_is_fetched_once_and_cached(
    api: TestClient, key: Key, provider: IdentityProvider
) -> None:
    for _ in range(5):
        assert get(api, key.sign(claims())).status_code == 200

    assert provider.fetches == 1


def jwks_keys(
    http: httpx2.AsyncClient, provider: IdentityProvider, now: list[float], *, cache_seconds: int
) -> JwksKeys:
    """Keys of the provider, refetched at most once a minute, on the clock ``now[0]``."""
    return JwksKeys(
        http,
        provider.url,
        timeout_seconds=2,
        cache_seconds=cache_seconds,
        refetch_interval_seconds=60,
        clock=lambda: now[0],
    )


async def test_unknown_kid_refetches_at_most_once_per_interval(
    provider: IdentityProvider, key: Key
) -> None:
    now = [100.0]
    async with httpx2.AsyncClient() as http:
        keys = jwks_keys(http, provider, now, cache_seconds=900)
        header = {"alg": "RS256", "kid": key.kid}
        await keys.key_for(header)
        rotated = Key("key-2")
        provider.keys = [key, rotated]
        now[0] += 10
        # Unknown, but the set was fetched 10 s ago: refused without a fetch, twice.
        for kid in ("key-2", "made-up"):
            with pytest.raises(jwt.InvalidTokenError, match="unknown key ID"):
                await keys.key_for({"alg": "RS256", "kid": kid})
        assert provider.fetches == 1
        now[0] += 50  # a minute after the fetch: one refetch finds the rotated key
        assert await keys.key_for({"alg": "RS256", "kid": "key-2"})
        with pytest.raises(jwt.InvalidTokenError, match="unknown key ID"):
            await keys.key_for({"alg": "RS256", "kid": "made-up"})
        assert provider.fetches == 2
        now[0] += 900  # the key set expired: fetched again, even for a known key
        await keys.key_for(header)
        assert provider.fetches == 3


async def test_a_failing_provider_keeps_the_last_keys(provider: IdentityProvider, key: Key) -> None:
    now = [0.0]
    async with httpx2.AsyncClient() as http:
        keys = jwks_keys(http, provider, now, cache_seconds=10)
        header = {"alg": "RS256", "kid": key.kid}
        first = await keys.key_for(header)
        provider.failing = True
        now[0] = 100.0  # stale: a refetch is tried, fails, and the last keys stay in use
        assert await keys.key_for(header) is first
        assert provider.fetches == 2


def test_keys_unavailable_is_503_until_the_provider_answers(
    api: TestClient, key: Key, provider: IdentityProvider
) -> None:
    provider.failing = True
    unavailable = get(api, key.sign(claims()))
    provider.failing = False
    recovered = get(api, key.sign(claims()))

    assert unavailable.status_code == 503
    assert unavailable.json()["error"] == "AUTH_KEYS_UNAVAILABLE"
    assert unavailable.headers["Retry-After"] == "5"
    assert recovered.status_code == 200


def test_a_key_that_names_another_algorithm_is_refused(
    make_settings: Callable[..., Settings], provider: IdentityProvider, key: Key
) -> None:
    """The JWK says RS256; a PS256 token under its kid is refused even though PS256 is an
    accepted algorithm."""
    settings = make_settings(
        jwt_public_key=None, jwt_jwks_url=provider.url, jwt_algorithms=["RS256", "PS256"]
    )
    token = jwt.encode(claims(), key.private, algorithm="PS256", headers={"kid": key.kid})
    with TestClient(create_app(settings)) as client:
        assert get(client, token).status_code == 401
        assert get(client, key.sign(claims())).status_code == 200


def test_elliptic_curve_keys(make_settings: Callable[..., Settings]) -> None:
    ec_key = Key("ec-1", "ES256")
    with IdentityProvider() as provider:
        provider.keys = [ec_key]
        settings = make_settings(
            jwt_public_key=None, jwt_jwks_url=provider.url, jwt_algorithms=["ES256"]
        )
        with TestClient(create_app(settings)) as client:
            assert get(client, ec_key.sign(claims())).status_code == 200
            # An RS256 token is refused: only ES256 is configured.
            assert get(client, Key("ec-1").sign(claims())).status_code == 401


def test_a_configured_public_key(make_settings: Callable[..., Settings], key: Key) -> None:
    settings = make_settings(jwt_public_key=key.public_pem.decode())
    with TestClient(create_app(settings)) as client:
        assert get(client, key.sign(claims())).status_code == 200
        assert get(client, Key("key-1").sign(claims())).status_code == 401


def test_a_malformed_public_key_stops_start_up(make_settings: Callable[..., Settings]) -> None:
    app = create_app(make_settings(jwt_public_key="not a key"))

    with pytest.raises(SettingsError, match=f"{ENV_PREFIX}JWT_PUBLIC_KEY"), TestClient(app):
        pass


def test_locally_without_keys_the_service_issues_its_own(
    make_settings: Callable[..., Settings],
) -> None:
    app = create_app(make_settings(jwt_public_key=None))
    with TestClient(app) as client:
        issued = client.post("/local/token", json={"tenant_id": "acme", "roles": ["reader"]})
        token = issued.json()["access_token"]
        read = get(client, token)
        write = client.post(
            BASE, json={"name": "x", "price": "1"}, headers={"Authorization": f"Bearer {token}"}
        )
        default = client.post("/local/token").json()["access_token"]
        created = client.post(
            BASE, json={"name": "x", "price": "1"}, headers={"Authorization": f"Bearer {default}"}
        )

    assert issued.status_code == 200
    assert issued.json()["token_type"] == "Bearer"
    assert jwt.decode(token, options={"verify_signature": False})["tenant_id"] == "acme"
    assert (read.status_code, write.status_code, created.status_code) == (200, 403, 201)


def test_locally_no_jwt_setting_is_needed(
    without_public_key: SetEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As after `make run` without a .env: no issuer, audience or key.
    monkeypatch.delenv(f"{ENV_PREFIX}JWT_ISSUER")
    monkeypatch.delenv(f"{ENV_PREFIX}JWT_AUDIENCE")

    settings = load_settings()
    with TestClient(create_app(settings)) as client:
        token = client.post("/local/token").json()["access_token"]
        listed = get(client, token)

    assert (settings.jwt_issuer, settings.jwt_audience) == ("http://localhost:8000", "${{ values.name }}")
    assert listed.status_code == 200
    claims = jwt.decode(token, options={"verify_signature": False})
    assert (claims["iss"], claims["aud"]) == (settings.jwt_issuer, settings.jwt_audience)


def test_the_local_issuer_is_off_when_keys_are_configured(api: TestClient) -> None:
    assert api.post("/local/token").status_code == 404


@pytest.fixture
def without_public_key(base_env: SetEnv, monkeypatch: pytest.MonkeyPatch) -> SetEnv:
    monkeypatch.delenv(f"{ENV_PREFIX}JWT_PUBLIC_KEY")
    return base_env


@pytest.mark.parametrize("environment", ["test", "development", "staging", "production"])
def test_keys_are_required_outside_local(without_public_key: SetEnv, environment: str) -> None:
    without_public_key("ENVIRONMENT", environment)

    with pytest.raises(SettingsError, match=f"{ENV_PREFIX}JWT_JWKS_URL"):
        load_settings()


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("JWT_ALGORITHMS", '["HS256"]'),
        ("JWT_ALGORITHMS", '["RS256", "HS256"]'),
        ("JWT_ALGORITHMS", '["none"]'),
        ("JWT_ALGORITHMS", "[]"),
        ("JWT_JWKS_URL", "http://id.example.com/jwks.json"),
        ("JWT_JWKS_URL", "not a url"),
        ("JWT_LEEWAY_SECONDS", "3600"),
        ("JWT_ISSUER", ""),
    ],
)
def test_unsafe_jwt_settings_are_refused(without_public_key: SetEnv, name: str, value: str) -> None:
    without_public_key(name, value)

    with pytest.raises(SettingsError, match=f"{ENV_PREFIX}{name}"):
        load_settings()


def test_jwks_url_and_public_key_together_are_refused(base_env: SetEnv) -> None:
    base_env("JWT_JWKS_URL", "https://id.example.com/jwks.json")

    with pytest.raises(SettingsError, match=r"JWT_JWKS_URL and \w+JWT_PUBLIC_KEY are both set"):
        load_settings()


def test_loopback_jwks_over_http_is_allowed(without_public_key: SetEnv) -> None:
    without_public_key("JWT_JWKS_URL", "http://127.0.0.1:8080/jwks.json")

    assert load_settings().jwt_jwks_url == "http://127.0.0.1:8080/jwks.json"
