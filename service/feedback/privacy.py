"""A couple's and partner's rights: access (export everything held) and erasure (wherever
the partner's data is held; scores stay, de-identified). Here because feedback is the highest
feature that holds their data."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa

from service.core.clock import utcnow
from service.couples import service as couples
from service.db import audit, uow
from service.feedback import links
from service.feedback.models import FeedbackRequest, FeedbackResponse
from service.notifications import service as notifications
from service.therapy_sessions import service as sessions


def export_couple(couple_id: uuid.UUID) -> dict[str, Any]:
    """Everything held about a couple, as one document (the right of access)."""
    couple = couples.COUPLES.get(couple_id, audited=False)
    session = uow.session()
    requests = session.scalars(
        sa.select(FeedbackRequest)
        .where(FeedbackRequest.partner_id.in_([p.id for p in couple.partners]))
        .order_by(FeedbackRequest.created_at)
    )
    responses = session.scalars(
        sa.select(FeedbackResponse)
        .where(FeedbackResponse.couple_id == couple.id)
        .order_by(FeedbackResponse.session_at)
    )
    audit.record("export", "couple", couple.id)
    return {
        "exported_at": utcnow(),
        "couple": couple,
        "sessions": sessions.of_couple(couple.id),
        "feedback_requests": list(requests),
        "feedback_responses": list(responses),
    }


def erase_partner(partner_id: uuid.UUID, *, mail_dir: str) -> Any:
    """Erasure wherever the partner's data is held: their details (couples), their open
    links, their private comments, and the emails sent or waiting for them (with the copies
    in `mail_dir`, where development writes them)."""
    email = couples.PARTNERS.get(partner_id, audited=False).email
    partner = couples.erase_partner(partner_id)
    session = uow.session()
    session.execute(
        sa.update(FeedbackRequest)
        .where(FeedbackRequest.partner_id == partner.id, FeedbackRequest.status.in_(links.OPEN))
        .values(status="revoked")
    )
    session.execute(
        sa.update(FeedbackResponse)
        .where(FeedbackResponse.partner_id == partner.id)
        .values(comment=None)
    )
    notifications.forget_emails_about(partner.id, email, mail_dir)
    return partner
