"""Built-in instruments shipped with the product. Pure data: no framework imports.

SAC-8, the Session Alliance Check: eight 0-10 items, one per factor that matters in couples
work. Written for this product (no licensed item text is shipped; clinics upload their own).
"""

from __future__ import annotations

import uuid

SAC8_ID = uuid.UUID("018f0000-0000-7000-8000-000000005ac8")


def _item(key: str, text: str, *, watch: bool = False) -> dict[str, object]:
    return {
        "key": key,
        "text": {"en": text},
        "min": 0,
        "max": 10,
        "step": 1,
        "watch": watch,
        "anchors": {"min": {"en": "Not at all"}, "max": {"en": "Completely"}},
    }


SAC8: dict[str, object] = {
    "id": SAC8_ID,
    "key": "sac-8",
    "version": 1,
    "kind": "alliance",
    "title": {"en": "Session Alliance Check"},
    "items": [
        _item("heard", "I felt heard and understood."),
        _item("respect", "I felt respected."),
        _item("openness", "I could be open and honest in this session.", watch=True),
        _item("goals", "We worked on what I want to work on."),
        _item("approach", "The therapist's approach fits me."),
        _item(
            "balance", "The therapist was fair to both of us and did not take sides.", watch=True
        ),
        _item("airtime", "I had enough time to say what I needed to say.", watch=True),
        _item("confidence", "I trust this therapist can help us."),
    ],
    "norms": None,
    "cutoff_pct": None,
}
