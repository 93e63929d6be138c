"""Property-based fuzzing of every documented operation against the committed OpenAPI
document: no 5xx, responses conform to the spec (status codes, content types, schemas,
headers), invalid input is rejected."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck
from hypothesis import settings as fuzz_settings

from service.settings import ROOT
from service.staff.policy import PLATFORM_SCOPE

# The contract is the same whatever the database behind it: fuzzed once, in the PostgreSQL pass.
pytestmark = pytest.mark.backend_neutral

schema = schemathesis.openapi.from_path(ROOT / "openapi" / "openapi.json")


@pytest.fixture(scope="module")
def principals(app, settings):
    from tests.fixtures import create_clinic, make_client

    clinic = create_clinic(settings.token_issuer)
    return {
        "staff": clinic.staff("admin"),
        "platform": make_client(
            settings.token_issuer, clinic_id=None, scopes=(PLATFORM_SCOPE,), kind="platform"
        ),
    }


@schema.parametrize()
@fuzz_settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_api_conforms_to_its_spec(case, app, principals):
    security = case.operation.definition.raw.get("security")
    caller = principals["platform" if PLATFORM_SCOPE in str(security) else "staff"]
    headers = caller.headers if security != [] else {}
    case.call_and_validate(app=app, base_url="http://localhost", headers=headers)
