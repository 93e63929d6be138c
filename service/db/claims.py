"""Claiming rows of any clinic for the worker, in one statement that Citus runs across shards.

`SELECT ... FOR UPDATE SKIP LOCKED` needs one shard on Citus (a filter on clinic_id); a worker's
claim spans clinics. So a claim is one `UPDATE ... WHERE (clinic_id, id) IN (SELECT ... LIMIT n)
AND <the same conditions> RETURNING ...`: the subquery picks candidates without locking, the
UPDATE locks them, and the repeated conditions are re-checked on the row a concurrent claimer
may have just changed (READ COMMITTED re-evaluates them after the wait), so two workers never
take the same row: the later one skips it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from service.db import uow


def claim(
    model: Any,
    conditions: Sequence[sa.ColumnElement[bool]],
    *,
    order_by: Sequence[sa.ColumnElement[Any]],
    limit: int,
    values: Mapping[str, object],
    returning: Sequence[sa.ColumnElement[Any]],
) -> list[sa.Row[Any]]:
    """Set `values` on up to `limit` rows meeting `conditions` (first by `order_by`); returns
    `returning` of the rows this call took."""
    candidates = (
        sa.select(model.clinic_id, model.id).where(*conditions).order_by(*order_by).limit(limit)
    )
    taken = (
        sa.update(model)
        .where(sa.tuple_(model.clinic_id, model.id).in_(candidates), *conditions)
        .values(**values)
        .returning(*returning)
        .execution_options(synchronize_session=False)
    )
    return list(uow.session().execute(taken))
