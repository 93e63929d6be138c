"""Engine and sessions, with the tenant boundary applied to every transaction.

Two layers keep clinics apart:
- the ORM guard adds `clinic_id = <current clinic>` to every query of a clinic-owned model and
  stamps new rows, so application code cannot forget the filter;
- on PostgreSQL each transaction sets `app.clinic_id` for row-level security, which also
  covers raw SQL and any query the guard does not see (on Citus, on the worker nodes too).
"""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session, sessionmaker, with_loader_criteria

from service.core import context
from service.db.base import ClinicOwned


class TenantViolation(RuntimeError):
    """Code tried to write a row of another clinic. Always a bug, never user input."""


class Database:
    def __init__(self, url: str, *, pool_size: int = 5) -> None:
        # hide_parameters: a failing statement's message (logged) never carries bound PHI.
        options: dict[str, object] = {"pool_pre_ping": True, "hide_parameters": True}
        if url.startswith("sqlite"):
            options["connect_args"] = {"check_same_thread": False}
        else:
            options.update(pool_size=pool_size, max_overflow=pool_size)
        self.engine = sa.create_engine(url, **options)
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self.sessions = sessionmaker(self.engine, class_=TenantSession, expire_on_commit=False)

    @property
    def is_postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    def dispose(self) -> None:
        self.engine.dispose()


class TenantSession(Session):
    """A session whose transactions and queries are scoped to the context's clinic."""

    def get(self, entity: Any, ident: Any, **options: Any) -> Any:
        """A clinic-owned row by its id alone, as for any other table: the key's clinic is the
        context's. Platform work (no clinic) finds it by id among every clinic's rows."""
        if not (isinstance(entity, type) and issubclass(entity, ClinicOwned)) or isinstance(
            ident, tuple | dict
        ):
            return super().get(entity, ident, **options)
        clinic = context.clinic_id()
        if clinic is not None:
            return super().get(entity, (clinic, ident), **options)
        found = sa.select(entity).where(entity.id == ident)
        if options.get("with_for_update"):
            found = found.with_for_update()
        return self.scalar(found)


def _sqlite_pragmas(dbapi_connection: object, _record: object) -> None:
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


@event.listens_for(TenantSession, "after_begin")
def _scope_transaction(session: Session, _transaction: object, connection: sa.Connection) -> None:
    if connection.dialect.name != "postgresql":
        return
    connection.exec_driver_sql(scope_statement(context.current()))


def scope_statement(ctx: context.RequestContext) -> str:
    """`SET LOCAL` for both settings, in one round trip. Citus forwards `SET LOCAL` to the
    worker nodes a transaction touches (`set_config()` it does not), but `SET` takes no bound
    parameters: the clinic goes in as the literal of a parsed UUID, which cannot carry a quote."""
    clinic = str(uuid.UUID(str(ctx.clinic_id))) if ctx.clinic_id is not None else ""
    system = "on" if ctx.system else "off"
    return f"SET LOCAL app.clinic_id = '{clinic}'; SET LOCAL app.system = '{system}'"


@event.listens_for(TenantSession, "do_orm_execute")
def _guard_queries(state: ORMExecuteState) -> None:
    ctx = context.current()
    if ctx.system or not (state.is_select or state.is_update or state.is_delete):
        return
    clinic = ctx.clinic_id
    state.statement = state.statement.options(
        with_loader_criteria(
            ClinicOwned,
            lambda cls: cls.clinic_id == clinic if clinic is not None else sa.false(),
            include_aliases=True,
        )
    )


@event.listens_for(TenantSession, "before_flush")
def _stamp_new_rows(session: Session, _flush_context: object, _instances: object) -> None:
    ctx = context.current()
    for obj in session.new:
        if not isinstance(obj, ClinicOwned):
            continue
        if obj.clinic_id is None:
            if ctx.clinic_id is None:
                raise TenantViolation(f"{type(obj).__name__} created with no clinic in context")
            obj.clinic_id = ctx.clinic_id
        elif ctx.clinic_id is not None and obj.clinic_id != ctx.clinic_id and not ctx.system:
            raise TenantViolation(f"{type(obj).__name__} written for another clinic")
