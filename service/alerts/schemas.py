import marshmallow as ma

from service.alerts.lifecycle import CONCERNS
from service.alerts.policy import OPTIONS, RULES, SEVERITIES, THRESHOLDS, TREND_WINDOW, Range
from service.feedback.schemas import AllianceSchema
from service.http.fields import JSONBoolean, Text, Timestamp
from service.http.pagination import PageQuerySchema, page_schema
from service.http.results import WithResource

STATUSES = ("open", "acknowledged", "snoozed", "resolved")


class AlertSchema(WithResource, ma.Schema):
    id = ma.fields.UUID(dump_only=True)
    couple_id = ma.fields.UUID(dump_only=True)
    partner_id = ma.fields.UUID(
        dump_only=True,
        allow_none=True,
        metadata={"description": "Who it is about; for a split, the partner who is lower now."},
    )
    therapist_id = ma.fields.UUID(dump_only=True)
    concern = ma.fields.String(dump_only=True, metadata={"enum": sorted(set(CONCERNS.values()))})
    rule = ma.fields.String(dump_only=True, metadata={"description": "The leading rule."})
    rules = ma.fields.List(
        ma.fields.String(),
        dump_only=True,
        metadata={"description": "Every rule of the latest finding, the leading one first."},
    )
    summary = ma.fields.String(dump_only=True)
    explanation = ma.fields.String(dump_only=True)
    severity = ma.fields.String(dump_only=True)
    status = ma.fields.String(dump_only=True)
    occurrences = ma.fields.Integer(dump_only=True)
    first_session_id = ma.fields.UUID(dump_only=True)
    last_session_id = ma.fields.UUID(dump_only=True)
    recovered_at = Timestamp(
        dump_only=True,
        allow_none=True,
        metadata={"description": "Its condition has not held for two answered sessions."},
    )
    evidence = ma.fields.Dict(
        dump_only=True,
        metadata={
            "description": "rule, rule_version, inputs (with session ids), thresholds, "
            "computed; `others`: the evidence of the other rules of the finding."
        },
    )
    acknowledged_at = Timestamp(dump_only=True, allow_none=True)
    acknowledged_by = ma.fields.UUID(dump_only=True, allow_none=True)
    snoozed_until = Timestamp(dump_only=True, allow_none=True)
    resolved_at = Timestamp(dump_only=True, allow_none=True)
    resolved_by = ma.fields.UUID(dump_only=True, allow_none=True)
    resolution_note = ma.fields.String(dump_only=True, allow_none=True)
    created_at = Timestamp(dump_only=True)
    updated_at = Timestamp(dump_only=True)


class OccurrenceSchema(ma.Schema):
    session_id = ma.fields.UUID(dump_only=True)
    kind = ma.fields.String(dump_only=True)
    severity = ma.fields.String(dump_only=True)
    rules = ma.fields.List(ma.fields.String(), dump_only=True)
    severity_rose = ma.fields.Dict(dump_only=True, allow_none=True)
    evidence = ma.fields.Dict(dump_only=True)
    created_at = Timestamp(dump_only=True)


class AlertDetailSchema(AlertSchema):
    history = ma.fields.List(
        ma.fields.Nested(OccurrenceSchema),
        dump_only=True,
        metadata={"description": "Each session the concern held in, oldest first."},
    )


class AlertQuerySchema(PageQuerySchema):
    status = ma.fields.String(validate=ma.validate.OneOf(STATUSES))
    severity = ma.fields.String(validate=ma.validate.OneOf(SEVERITIES))
    rule = ma.fields.String(validate=ma.validate.OneOf(RULES))
    concern = ma.fields.String(validate=ma.validate.OneOf(sorted(set(CONCERNS.values()))))
    recovered = ma.fields.Boolean(truthy={"true"}, falsy={"false"})
    couple_id = ma.fields.UUID()
    partner_id = ma.fields.UUID()
    therapist_id = ma.fields.UUID()
    since = Timestamp(metadata={"description": "Changed at or after this instant."})


class ResolveSchema(ma.Schema):
    note = Text(max_length=2000, allow_none=True)


class SnoozeSchema(ma.Schema):
    until = Timestamp(required=True)


class AllianceWithAlertsSchema(WithResource, AllianceSchema):
    alerts = ma.fields.List(ma.fields.Nested(AlertSchema), dump_only=True)


AlertPageSchema = page_schema(AlertSchema, "AlertPage")


def _bounded(limits: Range, description: str) -> ma.fields.Field:
    field = ma.fields.Integer if limits.whole else ma.fields.Float
    return field(
        validate=ma.validate.Range(
            limits.low,
            limits.high,
            min_inclusive=not limits.low_open,
            max_inclusive=not limits.high_open,
        ),
        metadata={"description": description},
    )


def _rule_settings(rule: str) -> type[ma.Schema]:
    """One rule's settings, with exactly the fields (and ranges) that rule accepts."""
    always = rule == "safety_concern"  # always on, always critical (DESIGN §8)
    fields: dict[str, ma.fields.Field] = {
        "enabled": JSONBoolean(validate=ma.validate.Equal(True)) if always else JSONBoolean(),
        "severity": ma.fields.String(
            validate=ma.validate.OneOf(["critical"] if always else SEVERITIES)
        ),
    }
    if rule in THRESHOLDS:
        fields["threshold"] = _bounded(THRESHOLDS[rule], "See DESIGN §8 for the rule's unit.")
    for name, limits in OPTIONS.get(rule, {}).items():
        fields[name] = _bounded(limits, limits.message)
    return ma.Schema.from_dict(fields, name=f"{rule.title().replace('_', '')}Settings")


# Per rule: its settings; plus trend_window. Missing keys keep the defaults; the policy module
# checks the whole policy again (a nonsense value: 422 naming the field).
PolicySchema = ma.Schema.from_dict(
    {rule: ma.fields.Nested(_rule_settings(rule)) for rule in RULES}
    | {"trend_window": _bounded(TREND_WINDOW, "Answered sessions in the trend.")},
    name="AlertPolicy",
)


class PreviewCountSchema(ma.Schema):
    rule = ma.fields.String(dump_only=True)
    severity = ma.fields.String(dump_only=True)
    count = ma.fields.Integer(dump_only=True)


class PreviewAlertSchema(ma.Schema):
    couple_id = ma.fields.UUID(dump_only=True)
    partner_id = ma.fields.UUID(dump_only=True, allow_none=True)
    concern = ma.fields.String(dump_only=True)
    rule = ma.fields.String(dump_only=True)
    recovered = ma.fields.Boolean(dump_only=True)
    severity = ma.fields.String(dump_only=True)
    occurrences = ma.fields.Integer(dump_only=True)
    first_session_id = ma.fields.UUID(dump_only=True)
    last_session_id = ma.fields.UUID(dump_only=True)
    evidence = ma.fields.Dict(dump_only=True)


class RaisedSchema(ma.Schema):
    rule = ma.fields.String(dump_only=True)
    raised = ma.fields.Integer(dump_only=True)
    per_100_couple_sessions = ma.fields.Float(dump_only=True)


class PreviewSchema(ma.Schema):
    total = ma.fields.Integer(dump_only=True, metadata={"description": "Alerts it would hold."})
    counts = ma.fields.List(ma.fields.Nested(PreviewCountSchema), dump_only=True)
    alerts = ma.fields.List(ma.fields.Nested(PreviewAlertSchema), dump_only=True)
    couple_sessions = ma.fields.Integer(dump_only=True)
    alerts_per_100_couple_sessions = ma.fields.Float(
        dump_only=True,
        metadata={"description": "Alerts raised (created or escalated), as bench/ reports."},
    )
    raised_by_rule = ma.fields.List(ma.fields.Nested(RaisedSchema), dump_only=True)
    emails = ma.fields.Integer(
        dump_only=True, metadata={"description": "Alert emails it would have sent."}
    )
