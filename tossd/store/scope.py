"""One transaction per store call, with SQLAlchemy errors turned into StoreError once."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, Engine
from sqlmodel import Session

from tossd.store.engine import store_errors, writer


class Scopes:
    """Reads on the engine; writes on its BEGIN IMMEDIATE twin (see `engine.writer`)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.writer = writer(engine)

    @contextmanager
    def session(self, action: str, *, write: bool = False) -> Iterator[Session]:
        """An ORM session in one transaction, committed at the end, rolled back on error."""
        bind = self.writer if write else self.engine
        with (
            store_errors(action),
            Session(bind, expire_on_commit=False) as session,
            session.begin(),
        ):
            yield session

    @contextmanager
    def connection(self, action: str, *, write: bool = False) -> Iterator[Connection]:
        """A bare Core connection in one transaction: the hot paths skip the Session's cost."""
        bind = self.writer if write else self.engine
        with store_errors(action), bind.begin() as connection:
            yield connection
