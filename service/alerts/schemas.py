import marshmallow as ma

from service.alerts.policy import RULES, SEVERITIES
from service.feedback.schemas import AllianceSchema
from service.http.fields import JSONBoolean, Text, Timestamp
from service.http.pagination import PageQuerySchema, page_schema
from service.http.results import WithResource

STATUSES = ("open", "acknowledged", "snoozed", "resolved")


class AlertSchema(ma.Schema):
    id = ma.fields.UUID(dump_only=True)
    couple_id = ma.fields.UUID(dump_only=True)
    partner_id = ma.fields.UUID(dump_only=True, allow_none=True)
    therapist_id = ma.fields.UUID(dump_only=True)
    rule = ma.fields.String(dump_only=True)
    severity = ma.fields.String(dump_only=True)
    status = ma.fields.String(dump_only=True)
    occurrences = ma.fields.Integer(dump_only=True)
    first_session_id = ma.fields.UUID(dump_only=True)
    last_session_id = ma.fields.UUID(dump_only=True)
    evidence = ma.fields.Dict(
        dump_only=True,
        metadata={
            "description": "rule, rule_version, inputs (with session ids), thresholds, computed."
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


class AlertQuerySchema(PageQuerySchema):
    status = ma.fields.String(validate=ma.validate.OneOf(STATUSES))
    severity = ma.fields.String(validate=ma.validate.OneOf(SEVERITIES))
    rule = ma.fields.String(validate=ma.validate.OneOf(RULES))
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


class RuleSettingsSchema(ma.Schema):
    enabled = JSONBoolean()
    severity = ma.fields.String(validate=ma.validate.OneOf(SEVERITIES))
    threshold = ma.fields.Float(metadata={"description": "See DESIGN §8 for each rule's unit."})


# Per rule: enabled, threshold, severity; plus trend_window. Missing keys keep the defaults;
# the rules module checks the whole policy (a negative gap, a cutoff above 100: 422).
PolicySchema = ma.Schema.from_dict(
    {rule: ma.fields.Nested(RuleSettingsSchema) for rule in RULES}
    | {"trend_window": ma.fields.Integer(metadata={"description": "Sessions in the trend."})},
    name="AlertPolicy",
)


class PreviewCountSchema(ma.Schema):
    rule = ma.fields.String(dump_only=True)
    severity = ma.fields.String(dump_only=True)
    count = ma.fields.Integer(dump_only=True)


class PreviewAlertSchema(ma.Schema):
    couple_id = ma.fields.UUID(dump_only=True)
    partner_id = ma.fields.UUID(dump_only=True, allow_none=True)
    rule = ma.fields.String(dump_only=True)
    severity = ma.fields.String(dump_only=True)
    occurrences = ma.fields.Integer(dump_only=True)
    first_session_id = ma.fields.UUID(dump_only=True)
    last_session_id = ma.fields.UUID(dump_only=True)
    evidence = ma.fields.Dict(dump_only=True)


class PreviewSchema(ma.Schema):
    total = ma.fields.Integer(dump_only=True)
    counts = ma.fields.List(ma.fields.Nested(PreviewCountSchema), dump_only=True)
    alerts = ma.fields.List(ma.fields.Nested(PreviewAlertSchema), dump_only=True)
