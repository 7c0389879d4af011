"""What vulture cannot see being used in a generated service, each with the reason: code
that a framework calls, finds or reads by name. Nothing here is dead code."""

# Decorators (vulture's fnmatch patterns) that register the function with a framework.
IGNORED_DECORATORS = {
    "@*.get": "FastAPI route (routers and the tests' small apps)",
    "@*.post": "FastAPI route",
    "@*.put": "FastAPI route",
    "@*.patch": "FastAPI route",
    "@*.delete": "FastAPI route",
    "@pytest.fixture": "pytest fixture, requested by name or autouse",
    "@pytest.hookimpl": "pytest hook",
    "@field_validator": "pydantic validator",
    "@model_validator": "pydantic validator",
    "@event.listens_for": "SQLAlchemy event listener",
    "@signals.*.connect": "Celery signal handler",
}

# Names that a framework reads or calls on the objects or modules the service defines.
IGNORED_NAMES = {
    "model_config": "pydantic model and settings configuration",
    "pytestmark": "pytest module marks",
    "impl": "SQLAlchemy TypeDecorator: the underlying type",
    "cache_ok": "SQLAlchemy TypeDecorator: statement caching",
    "load_dialect_impl": "SQLAlchemy TypeDecorator hook",
    "process_bind_param": "SQLAlchemy TypeDecorator hook",
    "process_result_value": "SQLAlchemy TypeDecorator hook",
    "collect": "prometheus_client custom collector",
    "on_start": "OpenTelemetry span processor hook",
    "describe": "prometheus_client custom collector: read at registration, which would "
    "otherwise call collect() (and reach the broker)",
    "do_GET": "http.server request handler of a test server",
    "do_POST": "http.server request handler of a test server",
    "log_message": "http.server request handler hook, silenced in test servers",
    "setup": "schemathesis state machine hook",
    "get_call_kwargs": "schemathesis state machine hook",
    "after_call": "schemathesis state machine hook",
    "before_call": "schemathesis state machine hook",
    "on_retry": "Celery Task hook",
    "on_failure": "Celery Task hook",
    "requires": "Celery bootstep dependencies",
    "stop": "Celery bootstep hook",
    "conn_timeout": "arq RedisSettings attribute, read by arq",
    "__getattr__": "module __getattr__ (PEP 562)",
    "disabled": "attribute of a standard library logger",
    "scheme_name": "FastAPI security scheme: its OpenAPI name",
    "model": "FastAPI security scheme: its OpenAPI model",
    "ACTIVE": "ProductStatus member, reached by value through pydantic",
    "DISCONTINUED": "ProductStatus member, reached by value through pydantic",
    "total_pages": "field of a page of the product listing, read by clients",
    "access_token": "field of the local token response, read by clients",
    "token_type": "field of the local token response, read by clients",
    "HttpClientDep": "the shared HTTP client's dependency: docs/extending.md builds on it",
    "ServicesDep": "all of the service's parts as one dependency: docs/extending.md uses it",
}

# The product's fields are copied by name between the domain model, the storage mapping and
# the API schemas (model_dump, from_attributes, the mapping's column list): a render whose
# own code never reads one by attribute still sends it to clients and stores it.
PRODUCT_FIELDS = ("description", "price", "status", "created_at", "updated_at", "version")
IGNORED_NAMES |= dict.fromkeys(PRODUCT_FIELDS, "product field, copied by name")
