"""The pure FHIR modules, without a database: mapping, search parameters, bundle intake,
outcomes and the CapabilityStatement."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from service.fhir import capability, intake, mapping, outcomes, params
from service.instruments.catalog import SAC8
from tests import fhir_checks

T0 = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
CLINIC, COUPLE, ANA, BEN, SESSION, THERAPIST = (uuid.uuid4() for _ in range(6))
BASE = "https://alliance.test/fhir/R4"


def _instrument():
    return SimpleNamespace(created_at=T0, **SAC8)


def _response(partner=ANA, value=7, at=T0):
    answers = {item["key"]: value for item in SAC8["items"]}
    return SimpleNamespace(
        id=uuid.uuid4(),
        session_id=SESSION,
        partner_id=partner,
        couple_id=COUPLE,
        session_at=T0,
        created_at=at,
        instrument_id=SAC8["id"],
        instrument_version=1,
        answers=answers,
        total=float(value * 8),
        pct=value * 10.0,
        source="partner_link",
        entered_by=None,
        comment="private words",
        safety_concern=True,
    )


def _session(status="completed", modality="video"):
    return SimpleNamespace(
        id=SESSION,
        clinic_id=CLINIC,
        couple_id=COUPLE,
        therapist_id=THERAPIST,
        starts_at=T0,
        ends_at=T0 + timedelta(minutes=50),
        modality=modality,
        status=status,
        updated_at=T0,
    )


def test_ids_are_stable_distinct_and_invertible():
    partner_id = mapping.partner_encounter_id(SESSION, ANA)
    assert partner_id == mapping.partner_encounter_id(SESSION, ANA) != str(SESSION)
    assert partner_id != mapping.partner_encounter_id(SESSION, BEN)
    assert mapping.parse_encounter_id(partner_id) == (SESSION, ANA)
    assert mapping.parse_encounter_id(str(SESSION)) == (SESSION, None)
    assert mapping.parse_observation_id(mapping.gap_observation_id(SESSION)) == (SESSION, True)
    assert mapping.parse_observation_id(str(ANA)) == (ANA, False)
    for bad in ("", "x", str(SESSION).upper(), "f" * 63):
        assert mapping.parse_encounter_id(bad) is None


def test_every_mapping_validates():
    staff = SimpleNamespace(
        id=THERAPIST,
        clinic_id=CLINIC,
        updated_at=T0,
        active=True,
        display_name="Dr A",
        email="a@clinic.test",
        role="therapist",
    )
    partner = SimpleNamespace(
        id=ANA,
        updated_at=T0,
        erased_at=None,
        display_name="Ana",
        email="ana@x.test",
        phone=None,
        identifiers=[SimpleNamespace(system="urn:ehr", value="1")],
    )
    couple = SimpleNamespace(
        id=COUPLE,
        updated_at=T0,
        archived_at=None,
        label="A & B",
        therapist_id=THERAPIST,
        partners=[SimpleNamespace(id=ANA), SimpleNamespace(id=BEN)],
    )
    clinic = SimpleNamespace(id=CLINIC, updated_at=T0, name="Harbor")
    alert = SimpleNamespace(
        id=uuid.uuid4(),
        couple_id=COUPLE,
        partner_id=None,
        rule="split_alliance",
        severity="critical",
        status="resolved",
        created_at=T0,
        updated_at=T0,
    )
    pair = [_response(ANA, 7), _response(BEN, 9, T0 + timedelta(minutes=1))]
    made = [
        mapping.organization(clinic),
        mapping.practitioner(staff),
        mapping.practitioner_role(staff),
        mapping.patient(partner),
        mapping.group(couple),
        mapping.session_encounter(_session()),
        mapping.partner_encounter(_session("scheduled", "in_person"), ANA),
        mapping.questionnaire(_instrument(), BASE),
        mapping.questionnaire_response(pair[0], _instrument(), BASE),
        mapping.score_observation(pair[0], _instrument()),
        mapping.gap_observation(pair),
        mapping.flag(alert),
    ]
    fhir_checks.check_all(made)
    fhir_checks.answers_questionnaire(made[8], made[7])
    assert (
        made[10]["valueQuantity"]["value"] == 20.0
        and made[10]["subject"]["reference"] == f"Group/{COUPLE}"
    )
    assert made[11]["status"] == "inactive"
    assert made[6]["partOf"] == {"reference": f"Encounter/{SESSION}"}


def test_a_flag_is_made_from_the_stable_fields_only():
    alert = SimpleNamespace(
        id=uuid.uuid4(),
        couple_id=COUPLE,
        partner_id=BEN,
        rule="alliance_drop",
        severity="warning",
        status="open",
        created_at=T0,
        updated_at=T0 + timedelta(hours=1),
        evidence={"inputs": "scores"},
        summary="Ben dropped",
        explanation="Ben's score fell",
    )
    flag = mapping.flag(alert)
    assert flag["subject"] == {"reference": f"Patient/{BEN}"} and flag["status"] == "active"
    assert flag["meta"]["lastUpdated"] == "2026-03-02T10:30:00.000000Z"
    assert "Ben" not in str(flag) and "scores" not in str(flag)


def test_private_fields_are_never_mapped():
    response = _response()
    text = str(
        [
            mapping.questionnaire_response(response, _instrument(), BASE),
            mapping.score_observation(response, _instrument()),
        ]
    )
    assert "private words" not in text and "safety" not in text


@pytest.mark.parametrize(
    ("text", "bounds"),
    [
        ("ge2026", [(">=", datetime(2026, 1, 1, tzinfo=UTC))]),
        ("lt2026-02", [("<", datetime(2026, 2, 1, tzinfo=UTC))]),
        ("gt2026-12", [(">=", datetime(2027, 1, 1, tzinfo=UTC))]),
        ("le2026-02-28", [("<", datetime(2026, 3, 1, tzinfo=UTC))]),
        (
            "2026-02-28T10:00:00+01:00",
            [
                (">=", datetime(2026, 2, 28, 9, tzinfo=UTC)),
                ("<", datetime(2026, 2, 28, 9, 0, 1, tzinfo=UTC)),
            ],
        ),
    ],
)
def test_last_updated_prefixes_and_precision(text, bounds):
    assert params.date_bounds(text) == bounds


@pytest.mark.parametrize(
    "args",
    [
        [("_lastUpdated", "ne2026")],
        [("_lastUpdated", "2026-02-30")],
        [("_lastUpdated", "99999")],
        [("_id", "a"), ("_id", "b")],
        [("_id", ",".join(str(n) for n in range(501)))],
        [("_count", "-1")],
        [("_sort", "_id")],
        [("_elements", "id")],
        [("identifier", "no-bar")],
        [("patient", "Group/x")],
    ],
)
def test_bad_search_parameters_name_themselves(args):
    with pytest.raises(params.SearchError) as raised:
        params.parse(args, frozenset({"patient", "identifier"}))
    assert raised.value.parameter in {name for name, _ in args} | {"patient"}


def test_cursors_round_trip_and_matching():
    cursor = params.Cursor(T0, SESSION, 2)
    assert params.decode_cursor(params.encode_cursor(cursor)) == cursor
    query = params.parse(
        [("patient", f"Patient/{ANA}"), ("_lastUpdated", "ge2026-03-02")], frozenset({"patient"})
    )
    observation = mapping.score_observation(_response(), _instrument())
    assert params.matches(observation, query)
    later = params.parse([("_lastUpdated", "gt2026-03-02")], frozenset())
    assert not params.matches(observation, later)


def test_intake_names_every_bad_entry():
    body = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"resource": {"resourceType": "Patient"}, "request": {"method": "POST"}},
            {"resource": {"resourceType": "Flag"}, "request": {"method": "POST"}},
            "nonsense",
        ],
    }
    with pytest.raises(intake.BundleErrors) as raised:
        intake.entries(body)
    assert [index for index, _ in raised.value.errors] == [0, 1, 2]


def test_intake_reads_an_encounter_with_minutes_and_a_time_zone():
    entry = intake.Entry(
        0,
        None,
        "Encounter",
        "PUT",
        ("s", "v"),
        {
            "status": "finished",
            "class": {"code": "AMB"},
            "period": {"start": "2030-01-01T10:00:00-05:00"},
            "minutesDuration": 45,
            "subject": {"reference": "Group/g"},
            "participant": [{"individual": {"reference": "Practitioner/p"}}],
        },
    )
    visit = intake.visit(entry)
    assert visit.starts_at == datetime(2030, 1, 1, 15, tzinfo=UTC)
    assert (visit.duration_minutes, visit.status, visit.modality) == (45, "completed", "in_person")
    assert visit.refs == ("Practitioner/p", "Group/g")


def test_capability_statement_and_outcomes_validate():
    statement = capability.capability_statement(
        BASE, "https://alliance.test/oauth/token", T0, {"Patient": ["identifier"]}
    )
    fhir_checks.check(statement)
    fhir_checks.check(outcomes.outcome_for_status(404, "gone"))
    fhir_checks.check(outcomes.transaction_response([("201 Created", "Patient/1")]))
    fhir_checks.check(outcomes.searchset([], BASE, BASE + "/Patient", None))
