"""One transaction per store call, with SQLAlchemy errors turned into StoreError once."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import Self

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from tossd.errors import StoreError
from tossd.store.engine import describe_error, writer


class Scopes:
    """Reads on the engine; writes on its BEGIN IMMEDIATE twin (see `engine.writer`)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.writer = writer(engine)

    @contextmanager
    def session(self, action: str, *, write: bool = False) -> Iterator[Session]:
        """An ORM session in one transaction, committed at the end, rolled back on error."""
        bind = self.writer if write else self.engine
        try:
            with Session(bind, expire_on_commit=False) as session, session.begin():
                yield session
        except SQLAlchemyError as exc:
            raise StoreError(f"could not {action}: {describe_error(exc)}") from exc

    @contextmanager
    def connection(self, action: str, *, write: bool = False) -> Iterator[Connection]:
        """A bare Core connection in one transaction: the hot paths skip the Session's cost."""
        bind = self.writer if write else self.engine
        try:
            with bind.begin() as connection:
                yield connection
        except SQLAlchemyError as exc:
            raise StoreError(f"could not {action}: {describe_error(exc)}") from exc


class Closable:
    """`with` support for the store's objects that hold an engine: closed on leaving."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
