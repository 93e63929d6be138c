"""Declarative base, column types and the tenancy mixin every clinic-owned table uses."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column

from service.core.clock import utcnow
from service.core.ids import new_id

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(sa.TypeDecorator[datetime]):
    """`timestamptz` on PostgreSQL; on SQLite values come back naive, so re-attach UTC."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given; use service.core.clock.utcnow()")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime(), uuid.UUID: sa.Uuid(), dict: sa.JSON()}


class Keyed:
    """A UUIDv7 primary key and creation time: the keyset used by cursor pagination."""

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Versioned:
    """An optimistic-lock counter: it is the resource's ETag, and a stale UPDATE fails."""

    version: Mapped[int] = mapped_column(default=1)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    @declared_attr.directive
    def __mapper_args__(cls) -> dict[str, object]:
        return {"version_id_col": cls.version}


class ClinicOwned(Keyed):
    """A tenant table: `clinic_id NOT NULL`, `PRIMARY KEY (clinic_id, id)` and row-level security.

    The key leads with `clinic_id`, the column Citus distributes by (a distributed table's
    primary and unique keys must contain it): every unique key of a tenant table includes it.
    Child tables point at parents with `clinic_fk`, a composite foreign key, so the database
    itself refuses a row that links two clinics (and, on Citus, checks it on one node).
    The ORM identifies rows by the same pair, so the UPDATEs and DELETEs of a flush and the
    loads of deferred columns name the clinic too (one shard on Citus); `session.get(Model,
    id)` still takes the id alone (`TenantSession.get`).
    """

    id: Mapped[uuid.UUID] = mapped_column(default=new_id)  # the key is tenant_table_args'

    @declared_attr
    def clinic_id(cls) -> Mapped[uuid.UUID]:
        return mapped_column(sa.ForeignKey("clinics.id", ondelete="RESTRICT"), nullable=False)

    @classmethod
    def tenant_table_args(cls, *extra: object) -> tuple[object, ...]:
        return (sa.PrimaryKeyConstraint("clinic_id", "id"), *extra)


def clinic_fk(column: str, parent: str, *, ondelete: str | None = None) -> sa.ForeignKeyConstraint:
    """`(clinic_id, column) → parent (clinic_id, id)`: a link that cannot cross clinics."""
    return sa.ForeignKeyConstraint(
        ["clinic_id", column], [f"{parent}.clinic_id", f"{parent}.id"], ondelete=ondelete
    )


def tenant_tables() -> list[sa.Table]:
    """Every clinic-owned table, found from the models so new tables are covered by tests."""
    return sorted(
        (
            mapper.local_table
            for mapper in Base.registry.mappers
            if issubclass(mapper.class_, ClinicOwned)
        ),
        key=lambda table: table.name,
    )
