"""Every model module, imported in one place so metadata is complete (alembic, tests)."""

from service.alerts import models as alert_models
from service.auth import models as auth_models
from service.clients import models as client_models
from service.clinics import models as clinic_models
from service.couples import models as couple_models
from service.db import audit as audit_models
from service.db import idempotency
from service.db.base import Base
from service.feedback import models as feedback_models
from service.fhir import models as fhir_models
from service.instruments import models as instrument_models
from service.notifications import models as notification_models
from service.staff import models as staff_models
from service.therapy_sessions import models as session_models

MODEL_MODULES = (
    clinic_models,
    staff_models,
    audit_models,
    client_models,
    auth_models,
    idempotency,
    couple_models,
    session_models,
    notification_models,
    instrument_models,
    feedback_models,
    alert_models,
    fhir_models,
)
metadata = Base.metadata
