"""Built-in instruments shipped with the product. Pure data: no framework imports.

SAC-8, the Session Alliance Check: eight 0-10 items, one per factor that matters in couples
work. Written for this product (no licensed item text is shipped; clinics upload their own),
in English and Spanish: every title, item and anchor has both, written for a reader (the
Spanish avoids gendered adjectives, so it reads right for anyone).
"""

from __future__ import annotations

import uuid

SAC8_ID = uuid.UUID("018f0000-0000-7000-8000-000000005ac8")


def _item(key: str, en: str, es: str, *, watch: bool = False) -> dict[str, object]:
    return {
        "key": key,
        "text": {"en": en, "es": es},
        "min": 0,
        "max": 10,
        "step": 1,
        "watch": watch,
        "anchors": {
            "min": {"en": "Not at all", "es": "Nada"},
            "max": {"en": "Completely", "es": "Totalmente"},
        },
    }


SAC8: dict[str, object] = {
    "id": SAC8_ID,
    "key": "sac-8",
    "version": 1,
    "kind": "alliance",
    "title": {"en": "Session Alliance Check", "es": "Evaluación de la alianza en la sesión"},
    "items": [
        _item("heard", "I felt heard and understood.", "Sentí que me escuchaban y me comprendían."),
        _item("respect", "I felt respected.", "Sentí que me trataban con respeto."),
        _item(
            "openness",
            "I could be open and honest in this session.",
            "En esta sesión pude expresarme con franqueza y sinceridad.",
            watch=True,
        ),
        _item(
            "goals",
            "We worked on what I want to work on.",
            "Trabajamos en lo que yo quiero trabajar.",
        ),
        _item(
            "approach",
            "The therapist's approach fits me.",
            "La forma de trabajar de mi terapeuta encaja conmigo.",
        ),
        _item(
            "balance",
            "The therapist was fair to both of us and did not take sides.",
            "Mi terapeuta fue imparcial con ambas partes y no se puso del lado de nadie.",
            watch=True,
        ),
        _item(
            "airtime",
            "I had enough time to say what I needed to say.",
            "Tuve tiempo suficiente para decir lo que necesitaba decir.",
            watch=True,
        ),
        _item(
            "confidence",
            "I trust this therapist can help us.",
            "Confío en que mi terapeuta puede ayudarnos.",
        ),
    ],
    "norms": None,
    "cutoff_pct": None,
}
