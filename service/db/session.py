"""Engine and sessions, with the tenant boundary applied to every transaction.

Two layers keep clinics apart:
- the ORM guard adds `clinic_id = <current clinic>` to every query of a clinic-owned model and
  stamps new rows, so application code cannot forget the filter (a hot path's Core statement
  on a table says it itself, with `in_current_clinic`);
- on PostgreSQL each transaction sets `app.clinic_id` for row-level security, which also
  covers raw SQL and any query the guard does not see (on Citus, on the worker nodes too).

The audited system context sees every clinic because its sessions log in as the system role
(service/db/rls.py), never because of anything the app role can set.
"""

from __future__ import annotations

import contextlib
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session, sessionmaker, with_loader_criteria

from service.core import context
from service.db.base import ClinicOwned
from service.db.rls import SYSTEM_ROLE

if TYPE_CHECKING:
    from service.settings import Settings


class TenantViolation(RuntimeError):
    """Code tried to write a row of another clinic. Always a bug, never user input."""


@dataclass(frozen=True)
class Limits:
    """How long the database may hold a caller. 0: no limit of ours.

    On PostgreSQL every connection is opened with them (libpq `options`), so a stuck statement
    or a transaction left open ends, freeing its connection and locks, instead of piling up
    requests behind it. On SQLite a writer waits `busy_timeout_ms` for another's lock.
    """

    statement_timeout_ms: int = 0
    idle_in_transaction_timeout_ms: int = 0
    connect_timeout_s: int = 0
    busy_timeout_ms: int = 5000


class UnsafeDatabaseRole(RuntimeError):
    """The app role is one row-level security does not bind: production refuses to run on it."""


class Database:
    def __init__(
        self,
        url: str,
        *,
        system_url: str = "",
        pool_size: int = 5,
        application_name: str = "alliance",
        limits: Limits = Limits(),
        refuse_unsafe_app_role: bool = False,
    ) -> None:
        self.engine = _engine(url, pool_size, application_name, limits)
        # Without a URL of its own (SQLite, where there is no row-level security) the system
        # context shares the app's engine.
        self.system_engine = (
            _engine(system_url, pool_size, application_name, limits)
            if system_url and system_url != url
            else self.engine
        )
        self.sessions = sessionmaker(self.engine, class_=TenantSession, expire_on_commit=False)
        self.system_sessions = sessionmaker(
            self.system_engine, class_=TenantSession, expire_on_commit=False
        )
        if refuse_unsafe_app_role and self.is_postgres:
            self._refuse_unsafe_app_role()

    @classmethod
    def from_settings(
        cls, settings: Settings, *, application_name: str, pool_size: int
    ) -> Database:
        return cls(
            settings.database_url,
            system_url=settings.system_database_url,
            pool_size=pool_size,
            application_name=application_name,
            refuse_unsafe_app_role=settings.is_production,
            limits=Limits(
                statement_timeout_ms=settings.db_statement_timeout_ms,
                idle_in_transaction_timeout_ms=settings.db_idle_in_transaction_timeout_ms,
                connect_timeout_s=settings.db_connect_timeout,
                busy_timeout_ms=settings.sqlite_busy_timeout_ms,
            ),
        )

    @property
    def is_postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    def session(self) -> Session:
        """A session as the role the current context acts as: opened in the system context, it
        is the system role's for its whole life."""
        return (self.system_sessions if context.current().system else self.sessions)()

    def _refuse_unsafe_app_role(self) -> None:
        """Check the app role on its first connection - now, or when the database first
        answers - and refuse it (`UnsafeDatabaseRole`) if row-level security does not bind it;
        a refused check runs again on the next connection."""
        event.listen(self.engine, "first_connect", _refuse_unbound_role)
        # Not reachable yet: /readyz says so, and the first connection checks.
        with contextlib.suppress(sa.exc.OperationalError):
            self.engine.connect().close()

    def dispose(self) -> None:
        self.engine.dispose()
        self.system_engine.dispose()


def _engine(url: str, pool_size: int, application_name: str, limits: Limits) -> sa.Engine:
    # hide_parameters: a failing statement's message (logged) never carries bound PHI.
    options: dict[str, object] = {"pool_pre_ping": True, "hide_parameters": True}
    if url.startswith("sqlite"):
        options["connect_args"] = {
            "check_same_thread": False,
            "timeout": limits.busy_timeout_ms / 1000,
        }
    else:
        options.update(
            pool_size=pool_size,
            max_overflow=pool_size,
            connect_args=_postgres_connect_args(application_name, limits),
        )
    engine = sa.create_engine(url, **options)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


# Raw DBAPI (psycopg) SQL: it runs inside the pool's connect event.
UNBOUND_ROLE = """SELECT r.rolsuper, r.rolbypassrls,
       EXISTS (SELECT 1 FROM pg_tables t WHERE t.tableowner = current_user
               AND t.schemaname = 'public'),
       EXISTS (SELECT 1 FROM pg_roles s WHERE s.rolname = %(system)s
               AND pg_has_role(current_user, s.oid, 'MEMBER'))
FROM pg_roles r WHERE r.rolname = current_user"""


def _refuse_unbound_role(dbapi_connection: object, _record: object) -> None:
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    try:
        cursor.execute(UNBOUND_ROLE, {"system": SYSTEM_ROLE})
        superuser, bypasses, owns, may_become_system = cursor.fetchone()
    finally:
        cursor.close()
        dbapi_connection.rollback()  # type: ignore[attr-defined]
    reasons = [
        reason
        for reason, found in (
            ("is a superuser", superuser),
            ("has BYPASSRLS", bypasses),
            ("owns the tables", owns),
            (f"is a member of {SYSTEM_ROLE}", may_become_system),
        )
        if found
    ]
    if reasons:
        raise UnsafeDatabaseRole(
            "The app's database role " + ", ".join(reasons) + ": row-level security would not "
            "bind it. Connect ALLIANCE_DATABASE_URL as a role without these (see "
            "scripts/ensure-postgres.sh)."
        )


def long_transaction(session: Session, statement_timeout_ms: int) -> None:
    """Prepare the session's transaction for work that reads for long and writes as it goes
    (a bulk export: a cursor open while it records audit events).

    PostgreSQL: its statements may run `statement_timeout_ms` (0: without limit) instead of
    the connection's limit. SQLite: it takes the write lock now (waiting up to the busy
    timeout); a first write made while its cursor is open would fail at once with "database is
    locked" once another process had committed since the cursor opened.
    """
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        session.execute(
            sa.text("SELECT set_config('statement_timeout', :ms, true)"),
            {"ms": str(statement_timeout_ms)},
        )
    elif dialect == "sqlite":
        session.execute(sa.text("BEGIN IMMEDIATE"))


def _postgres_connect_args(application_name: str, limits: Limits) -> dict[str, object]:
    settings = {
        "statement_timeout": limits.statement_timeout_ms,
        "idle_in_transaction_session_timeout": limits.idle_in_transaction_timeout_ms,
    }
    args: dict[str, object] = {
        "application_name": application_name,  # who holds a connection, in pg_stat_activity
        "options": " ".join(f"-c {name}={value}" for name, value in settings.items() if value),
    }
    if limits.connect_timeout_s:
        args["connect_timeout"] = limits.connect_timeout_s
    return args


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
    # WAL: a commit never waits for readers to finish (with the rollback journal it waited
    # for every one, an export's open cursor included, and failed after the busy timeout).
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


@event.listens_for(TenantSession, "after_begin")
def _scope_transaction(session: Session, _transaction: object, connection: sa.Connection) -> None:
    if connection.dialect.name != "postgresql":
        return
    connection.exec_driver_sql(scope_statement(context.current()))


def scope_statement(ctx: context.RequestContext) -> str:
    """`SET LOCAL` of the clinic. Citus forwards `SET LOCAL` to the worker nodes a transaction
    touches (`set_config()` it does not), but `SET` takes no bound parameters: the clinic goes
    in as the literal of a parsed UUID, which cannot carry a quote."""
    clinic = str(uuid.UUID(str(ctx.clinic_id))) if ctx.clinic_id is not None else ""
    return f"SET LOCAL app.clinic_id = '{clinic}'"


# The clinic is a bound parameter read when the statement runs, so the criterion is one
# object and every statement's compiled form is shared by all clinics; a lambda closing over
# the clinic cost a third of a millisecond per statement to analyse again. No clinic in
# context binds NULL, which matches no row.
_CURRENT_CLINIC = sa.bindparam(
    "guard_clinic", type_=sa.Uuid(), unique=True, callable_=context.clinic_id
)
_IN_CURRENT_CLINIC = with_loader_criteria(
    ClinicOwned, lambda cls: cls.clinic_id == _CURRENT_CLINIC, include_aliases=True
)


def in_current_clinic(table: sa.Table) -> sa.ColumnElement[bool]:
    """The guard's criterion, for a Core statement on a clinic-owned table: the guard sees
    only ORM statements (those naming mapped classes). Such a statement is for a clinic's
    own requests: run in the system context, it raises."""
    return table.c.clinic_id == _OWN_CLINIC


def _own_clinic() -> uuid.UUID | None:
    ctx = context.current()
    if ctx.system:
        raise TenantViolation("a statement scoped to the current clinic ran in the system context")
    return ctx.clinic_id


_OWN_CLINIC = sa.bindparam("own_clinic", type_=sa.Uuid(), unique=True, callable_=_own_clinic)


@event.listens_for(TenantSession, "do_orm_execute")
def _guard_queries(state: ORMExecuteState) -> None:
    if not state.is_orm_statement or not (state.is_select or state.is_update or state.is_delete):
        return
    if not context.current().system:
        state.statement = state.statement.options(_IN_CURRENT_CLINIC)


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
