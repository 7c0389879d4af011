"""The API against its own OpenAPI description, with schemathesis: every operation with
generated inputs that fit the description and inputs that break it, then sequences of calls
that follow the description's links (create a product, then read, change and delete it).

Every schemathesis check runs: no 5xx; status codes (each one answered is counted, and must
be documented for its operation), content types, headers and bodies as documented; invalid
input refused with 4xx, valid input accepted; declared credentials enforced; deleted
products gone, created ones readable. The app runs in process on the
variant's own storage:
{% if values.sqlDatabase %}
the test database.
{% elif values.database == 'dynamodb' %}
the moto server.
{% else %}
process memory.
{% endif %}
Generation is derandomized: every run sends the same requests, so a failure reproduces."""

import itertools
from collections import Counter
{% if values.events == 'redis-streams' %}
from collections.abc import Callable, Iterator
{% else %}
from collections.abc import Iterator
{% endif %}
from typing import Any

import hypothesis
import pytest
import schemathesis
from fastapi import FastAPI
from schemathesis.core.result import Ok
from schemathesis.generation.modes import GenerationMode
from schemathesis.python.asgi import shutdown_lifespans
from schemathesis.schemas import BaseSchema
from schemathesis.specs.openapi.checks import positive_data_acceptance

{% if values.events == 'redis-streams' %}
from ${{ values.packageName }}.core.config import Settings
{% endif %}
from ${{ values.packageName }}.core.rate_limit import limit_rate
{% if values.auth == 'jwt' %}
from ${{ values.packageName }}.core.tenancy import TENANT_ID_HEADER
{% endif %}

EXAMPLES_PER_OPERATION = 80
STATEFUL_SCENARIOS = 80
STEPS_PER_SCENARIO = 6


def fuzz_settings(max_examples: int, **overrides: Any) -> hypothesis.settings:
    return hypothesis.settings(
        max_examples=max_examples,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(hypothesis.HealthCheck),
        **overrides,
    )


{% if values.database == 'dynamodb' %}
def checks_to_skip(response: Any) -> list[Any]:
    """A cursor the service never issued is refused (400 INVALID_CURSOR), and so is an
    If-Match that names no version the product is at (412 PRECONDITION_FAILED), both as
    documented, though any string fits the schema: cursors and entity tags are opaque. Only
    those answers skip the check that input the schema allows is accepted."""
    refusals = {(400, "INVALID_CURSOR"), (412, "PRECONDITION_FAILED")}
    if response.status_code in {400, 412} and (
        (response.status_code, response.json().get("error")) in refusals
    ):
        return [positive_data_acceptance]
    return []
{% else %}
def checks_to_skip(response: Any) -> list[Any]:
    """An If-Match that names no version the product is at is refused (412
    PRECONDITION_FAILED, as documented), though any string fits the schema: entity tags are
    opaque. Only that answer skips the check that input the schema allows is accepted."""
    if response.status_code == 412 and response.json().get("error") == "PRECONDITION_FAILED":
        return [positive_data_acceptance]
    return []
{% endif %}


Answered = Counter[tuple[str, str, int]]


def undocumented(answered: Answered, api_schema: BaseSchema) -> list[str]:
    """The status codes answered that the description does not list for the operation."""
    paths = api_schema.raw_schema["paths"]
    return sorted(
        f"{method} {path} {status}"
        for method, path, status in answered
        if str(status) not in paths[path][method.lower()]["responses"]
    )


{% if values.events == 'redis-streams' %}
@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    """Event streams end after a moment: the in-process transport reads a response whole,
    so an open stream would never let a call return."""
    return make_settings(events_sse_max_stream_seconds=0.05)


{% endif %}
@pytest.fixture
def fuzzed_app(app: FastAPI) -> Iterator[FastAPI]:
    """The test app without the rate limit (thousands of requests come from one client);
    schemathesis runs its lifespan, stopped here after the test."""
    app.dependency_overrides[limit_rate] = lambda: None
    try:
        yield app
    finally:
        shutdown_lifespans()


@pytest.fixture
def api_schema(fuzzed_app: FastAPI) -> BaseSchema:
    schema = schemathesis.openapi.from_asgi("/openapi.json", fuzzed_app)
    # Valid and invalid inputs; the credentials are not generated: every call carries
    # request_headers (the ignored_auth check still sends calls without them).
    schema.config.generation.update(modes=list(GenerationMode), with_security_parameters=False)
    return schema


@pytest.fixture
def request_headers(tenant_headers: Any) -> dict[str, str]:
    headers: dict[str, str] = tenant_headers("tenant-fuzz")
    return headers


def test_every_operation_conforms(api_schema: BaseSchema, request_headers: dict[str, str]) -> None:
    operations = []
    for result in api_schema.get_all_operations():
        assert isinstance(result, Ok), result
        operations.append(result.ok())
    assert len(operations) >= 5
    answered: Answered = Counter()

    for operation in operations:

        @hypothesis.given(case=operation.as_strategy())
        @fuzz_settings(EXAMPLES_PER_OPERATION)
        def conforms(case: Any) -> None:
            response = case.call(headers=request_headers)
            answered[(case.method, case.path, response.status_code)] += 1
            case.validate_response(
                response,
                headers=request_headers,
                excluded_checks=checks_to_skip(response),
                transport_kwargs={"headers": request_headers},
            )

        conforms()

    assert not undocumented(answered, api_schema)
    # Valid and invalid input reached every operation: successes and refusals were answered.
    assert {status // 100 for _, _, status in answered} >= {2, 4}


def test_call_sequences_conform(api_schema: BaseSchema, tenant_headers: Any) -> None:
    # Valid calls only: invalid ones are each operation's test above, and here they would
    # rarely let a sequence reach the product it created.
    api_schema.config.generation.update(modes=[GenerationMode.POSITIVE])
    scenarios = itertools.count()
    answered: Answered = Counter()

    class Workflow(api_schema.as_state_machine()):  # type: ignore[misc]
        def setup(self) -> None:
            # Each scenario acts for a tenant of its own, so it starts from no products
            # whatever the scenarios before it left behind, and replays alike.
            self.tenant = f"scenario-{next(scenarios)}"
            self.headers: dict[str, str] = tenant_headers(self.tenant)

{% if values.auth == 'jwt' %}
        def before_call(self, case: Any) -> None:
            # The token names the scenario's tenant: a generated X-Tenant-ID naming another
            # is refused (403, as documented) and would end the sequence before it reaches
            # the product it created.
            if case.headers and TENANT_ID_HEADER in case.headers:
                case.headers[TENANT_ID_HEADER] = self.tenant

{% endif %}
        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {"headers": self.headers}

        def after_call(self, response: Any, case: Any) -> None:
            answered[(case.method, case.path, response.status_code)] += 1

        def validate_response(self, response: Any, case: Any, **kwargs: Any) -> None:
            case.validate_response(
                response,
                excluded_checks=checks_to_skip(response),
                transport_kwargs=kwargs or None,
                recorder=self.recorder,
            )

    Workflow.run(
        settings=fuzz_settings(
            STATEFUL_SCENARIOS,
            phases=[hypothesis.Phase.generate],
            stateful_step_count=STEPS_PER_SCENARIO,
        )
    )

    assert not undocumented(answered, api_schema)
    # The sequences reached products they created: the links were followed.
    item = "/api/v1/products/{product_id}"
    assert answered[("POST", "/api/v1/products", 201)] > 0
    assert answered[("GET", item, 200)] > 0
    assert answered[("PATCH", item, 200)] > 0
    assert answered[("DELETE", item, 204)] > 0
