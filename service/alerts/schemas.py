import marshmallow as ma

from service.alerts.lifecycle import CONCERNS
from service.alerts.policy import OPTIONS, RULES, SEVERITIES, THRESHOLDS, TREND_WINDOW, Range
from service.feedback.schemas import AllianceSchema
from service.http.fields import JSONBoolean, Text, Timestamp
from service.http.pagination import PageQuerySchema, page_schema
from service.http.results import WithResource

STATUSES = ("open", "acknowledged", "snoozed", "resolved")


# What a low-alliance rule's evidence looks like: the alert, its occurrences and the preview.
EVIDENCE_EXAMPLE = {
    "rule": "low_alliance",
    "rule_version": 1,
    "inputs": {"session_id": "7d1c5e2a-4b8f-4c3e-9a61-2f0b8d9e6c14", "score_pct": 62.5},
    "thresholds": {"cutoff_pct": 70},
    "computed": {"below_by": 7.5},
}


class AlertSchema(WithResource, ma.Schema):
    """A concern about a couple's therapy, raised by the alert rules."""

    id = ma.fields.UUID(dump_only=True)
    couple_id = ma.fields.UUID(dump_only=True)
    partner_id = ma.fields.UUID(
        dump_only=True,
        allow_none=True,
        metadata={"description": "Who it is about; for a split, the partner who is lower now."},
    )
    therapist_id = ma.fields.UUID(dump_only=True)
    concern = ma.fields.String(
        dump_only=True,
        metadata={
            "enum": sorted(set(CONCERNS.values())),
            "description": "What kind of concern: the rules are grouped by it.",
            "example": "alliance",
        },
    )
    rule = ma.fields.String(
        dump_only=True, metadata={"description": "The leading rule.", "example": "low_alliance"}
    )
    rules = ma.fields.List(
        ma.fields.String(),
        dump_only=True,
        metadata={
            "description": "Every rule of the latest finding, the leading one first.",
            "example": ["low_alliance", "alliance_drop"],
        },
    )
    summary = ma.fields.String(
        dump_only=True,
        metadata={
            "description": "One line for an inbox.",
            "example": "Maria's alliance score is below the clinic's cutoff.",
        },
    )
    explanation = ma.fields.String(
        dump_only=True,
        metadata={
            "description": "Why it fired, in words, from the evidence.",
            "example": "Maria rated the session 62% of the scale; the clinic's cutoff is 70%.",
        },
    )
    severity = ma.fields.String(
        dump_only=True, metadata={"description": "info, warning or critical.", "example": "warning"}
    )
    status = ma.fields.String(
        dump_only=True,
        metadata={"description": "open, acknowledged, snoozed or resolved.", "example": "open"},
    )
    occurrences = ma.fields.Integer(
        dump_only=True,
        metadata={"description": "In how many sessions the concern held.", "example": 2},
    )
    first_session_id = ma.fields.UUID(
        dump_only=True, metadata={"description": "The session it first held in."}
    )
    last_session_id = ma.fields.UUID(
        dump_only=True, metadata={"description": "The latest session it held in."}
    )
    recovered_at = Timestamp(
        dump_only=True,
        allow_none=True,
        metadata={"description": "Its condition has not held for two answered sessions."},
    )
    evidence = ma.fields.Dict(
        dump_only=True,
        metadata={
            "description": "rule, rule_version, inputs (with session ids), thresholds, "
            "computed; `others`: the evidence of the other rules of the finding.",
            "example": EVIDENCE_EXAMPLE,
        },
    )
    acknowledged_at = Timestamp(
        dump_only=True,
        allow_none=True,
        metadata={"description": "When it was acknowledged; null when not."},
    )
    acknowledged_by = ma.fields.UUID(
        dump_only=True,
        allow_none=True,
        metadata={"description": "The staff member who acknowledged it."},
    )
    snoozed_until = Timestamp(
        dump_only=True,
        allow_none=True,
        metadata={"description": "It reopens at this instant; null when not snoozed."},
    )
    resolved_at = Timestamp(
        dump_only=True,
        allow_none=True,
        metadata={"description": "When it was resolved; null when not."},
    )
    resolved_by = ma.fields.UUID(
        dump_only=True,
        allow_none=True,
        metadata={"description": "The staff member who resolved it."},
    )
    resolution_note = ma.fields.String(
        dump_only=True,
        allow_none=True,
        metadata={
            "description": "The note given when resolving it.",
            "example": "Discussed in session; plan agreed.",
        },
    )
    created_at = Timestamp(dump_only=True)
    updated_at = Timestamp(dump_only=True)


class OccurrenceSchema(ma.Schema):
    """One session in which an alert's concern held."""

    session_id = ma.fields.UUID(dump_only=True)
    kind = ma.fields.String(
        dump_only=True,
        metadata={
            "description": "What this session did to the alert: created, escalated, relapsed, "
            "repeated, refreshed, ticked or recovered.",
            "example": "created",
        },
    )
    severity = ma.fields.String(
        dump_only=True,
        metadata={"description": "The severity at this occurrence.", "example": "warning"},
    )
    rules = ma.fields.List(
        ma.fields.String(),
        dump_only=True,
        metadata={
            "description": "The rules that fired in this session.",
            "example": ["low_alliance"],
        },
    )
    severity_rose = ma.fields.Dict(
        dump_only=True,
        allow_none=True,
        metadata={
            "description": "`from`, `to` and `because` (the rule) when the severity rose here; "
            "null otherwise.",
            "example": {"from": "warning", "to": "critical", "because": "alliance_drop"},
        },
    )
    evidence = ma.fields.Dict(
        dump_only=True,
        metadata={
            "description": "The evidence of this occurrence (as in the alert).",
            "example": EVIDENCE_EXAMPLE,
        },
    )
    created_at = Timestamp(dump_only=True)


class AlertDetailSchema(AlertSchema):
    """An alert with the history of sessions it held in."""

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
    """Resolves an alert."""

    note = Text(
        max_length=2000,
        allow_none=True,
        metadata={
            "description": "What was done about it (kept with the alert).",
            "example": "Discussed in session; plan agreed.",
        },
    )


class SnoozeSchema(ma.Schema):
    """Snoozes an alert until an instant."""

    until = Timestamp(required=True, metadata={"description": "When it reopens (in the future)."})


class AllianceWithAlertsSchema(WithResource, AllianceSchema):
    """A couple's alliance series, with its open alerts."""

    alerts = ma.fields.List(
        ma.fields.Nested(AlertSchema),
        dump_only=True,
        metadata={"description": "The couple's alerts that are not resolved."},
    )


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
    enabled = {"description": "The rule runs (safety concerns always do).", "example": True}
    fields: dict[str, ma.fields.Field] = {
        "enabled": JSONBoolean(validate=ma.validate.Equal(True), metadata=enabled)
        if always
        else JSONBoolean(metadata=enabled),
        "severity": ma.fields.String(
            validate=ma.validate.OneOf(["critical"] if always else SEVERITIES),
            metadata={"description": "The severity of the alerts it raises."},
        ),
    }
    if rule in THRESHOLDS:
        fields["threshold"] = _bounded(THRESHOLDS[rule], "See DESIGN §8 for the rule's unit.")
    for name, limits in OPTIONS.get(rule, {}).items():
        fields[name] = _bounded(limits, limits.message)
    settings = ma.Schema.from_dict(fields, name=f"{rule.title().replace('_', '')}Settings")
    settings.__doc__ = f"The clinic's settings of the `{rule}` rule."
    return settings


# Per rule: its settings; plus trend_window. Missing keys keep the defaults; the policy module
# checks the whole policy again (a nonsense value: 422 naming the field).
PolicySchema = ma.Schema.from_dict(
    {
        rule: ma.fields.Nested(
            _rule_settings(rule), metadata={"description": f"The `{rule}` rule's settings."}
        )
        for rule in RULES
    }
    | {"trend_window": _bounded(TREND_WINDOW, "Answered sessions in the trend.")},
    name="AlertPolicy",
)
PolicySchema.__doc__ = "The clinic's alert policy: which rules run, their thresholds and severity."


class PreviewCountSchema(ma.Schema):
    """How many alerts a rule would hold, per severity."""

    rule = ma.fields.String(
        dump_only=True, metadata={"description": "The rule.", "example": "low_alliance"}
    )
    severity = ma.fields.String(
        dump_only=True, metadata={"description": "The severity.", "example": "warning"}
    )
    count = ma.fields.Integer(
        dump_only=True, metadata={"description": "How many alerts.", "example": 3}
    )


class PreviewAlertSchema(ma.Schema):
    """An alert the policy would hold."""

    couple_id = ma.fields.UUID(dump_only=True)
    partner_id = ma.fields.UUID(
        dump_only=True,
        allow_none=True,
        metadata={"description": "Who it is about; null for the couple."},
    )
    concern = ma.fields.String(
        dump_only=True, metadata={"description": "What kind of concern.", "example": "alliance"}
    )
    rule = ma.fields.String(
        dump_only=True, metadata={"description": "The leading rule.", "example": "low_alliance"}
    )
    recovered = ma.fields.Boolean(
        dump_only=True, metadata={"description": "Its condition no longer holds.", "example": False}
    )
    severity = ma.fields.String(
        dump_only=True, metadata={"description": "info, warning or critical.", "example": "warning"}
    )
    occurrences = ma.fields.Integer(
        dump_only=True, metadata={"description": "In how many sessions it held.", "example": 2}
    )
    first_session_id = ma.fields.UUID(
        dump_only=True, metadata={"description": "The session it first held in."}
    )
    last_session_id = ma.fields.UUID(
        dump_only=True, metadata={"description": "The latest session it held in."}
    )
    evidence = ma.fields.Dict(
        dump_only=True,
        metadata={
            "description": "Why it would fire (as in an alert).",
            "example": EVIDENCE_EXAMPLE,
        },
    )


class RaisedSchema(ma.Schema):
    """How often a rule would raise an alert."""

    rule = ma.fields.String(
        dump_only=True, metadata={"description": "The rule.", "example": "low_alliance"}
    )
    raised = ma.fields.Integer(
        dump_only=True,
        metadata={"description": "Alerts it would raise (created or escalated).", "example": 4},
    )
    per_100_couple_sessions = ma.fields.Float(
        dump_only=True,
        metadata={"description": "The same, per 100 couple-sessions.", "example": 2.5},
    )


class PreviewSchema(ma.Schema):
    """What a policy would have done to the clinic's recent sessions."""

    total = ma.fields.Integer(
        dump_only=True, metadata={"description": "Alerts it would hold.", "example": 7}
    )
    counts = ma.fields.List(
        ma.fields.Nested(PreviewCountSchema),
        dump_only=True,
        metadata={"description": "Alerts it would hold, by rule and severity."},
    )
    alerts = ma.fields.List(
        ma.fields.Nested(PreviewAlertSchema),
        dump_only=True,
        metadata={"description": "The alerts it would hold."},
    )
    couple_sessions = ma.fields.Integer(
        dump_only=True, metadata={"description": "The couple-sessions replayed.", "example": 160}
    )
    alerts_per_100_couple_sessions = ma.fields.Float(
        dump_only=True,
        metadata={
            "description": "Alerts raised (created or escalated), as bench/ reports.",
            "example": 4.4,
        },
    )
    raised_by_rule = ma.fields.List(
        ma.fields.Nested(RaisedSchema),
        dump_only=True,
        metadata={"description": "How often each rule would raise an alert."},
    )
    emails = ma.fields.Integer(
        dump_only=True, metadata={"description": "Alert emails it would have sent.", "example": 5}
    )
