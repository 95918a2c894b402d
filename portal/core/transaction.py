"""One way for a use case to own its transaction.

A use case (a function in a room's `services.py` or another use-case module) is decorated with
`@use_case`. The outermost use case running in a session commits when it returns and rolls back
when it raises anything, so a view, a job, the CLI or a test never commits or rolls back for
it. A use case called by another joins the caller's transaction inside a savepoint: when it
raises, what it wrote is undone and the caller may catch the error and go on (an import
reporting a bad row, inbound mail falling back to the quarantine) without losing its own work.

A row saved under a version (`version_id_col`) that someone else changed in the meantime makes
the commit fail with StaleDataError; the use case's `stale` function turns that into a
Conflict that says who changed what and when. Without one, the conflict says it in general.

Batch jobs that keep their work in several commits (delivery, planning) open one
`transaction()` per batch instead of decorating the whole job.
"""

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, ParamSpec, TypeVar, overload

from flask_babel import lazy_gettext as _l
from sqlalchemy.orm.exc import StaleDataError

from portal.core.errors import Conflict
from portal.core.extensions import db

P = ParamSpec("P")
R = TypeVar("R")

_DEPTH = "portal.use_case_depth"

StaleHandler = Callable[[], Exception]


def _generic_conflict() -> Exception:
    return Conflict(_l("Someone else changed this in the meantime. Reload and try again."))


@contextmanager
def transaction(
    stale: StaleHandler | None = None,
    conflicts: tuple[type[Exception], ...] = (StaleDataError,),
) -> Iterator[None]:
    """Commit what the block wrote when it is the outermost, roll back on any error.

    Inside another transaction the block runs in a savepoint that is released on success and
    rolled back when it raises. `conflicts` are the errors of a concurrent change (add
    IntegrityError where two people can create the same row); they become `stale()`.
    """
    session = db.session
    depth = session.info.get(_DEPTH, 0)
    session.info[_DEPTH] = depth + 1
    try:
        if depth:
            with session.begin_nested():
                yield
            return
        try:
            yield
            session.commit()
        except conflicts as error:
            session.rollback()
            raise (stale or _generic_conflict)() from error
        except BaseException:
            session.rollback()
            raise
    finally:
        session.info[_DEPTH] = depth


def in_transaction() -> bool:
    """True while a use case runs: code that must not commit on its own can check it."""
    return bool(db.session.info.get(_DEPTH, 0))


@overload
def use_case(func: Callable[P, R]) -> Callable[P, R]: ...


@overload
def use_case(
    *,
    stale: Callable[..., Exception] | None = None,
    conflicts: tuple[type[Exception], ...] = (StaleDataError,),
) -> Callable[[Callable[P, R]], Callable[P, R]]: ...


def use_case(
    func: Callable[P, R] | None = None,
    *,
    stale: Callable[..., Exception] | None = None,
    conflicts: tuple[type[Exception], ...] = (StaleDataError,),
) -> Any:
    """Run the decorated use case in one transaction (see the module's docstring).

    `stale` is called with the use case's own arguments after the rollback and returns the
    Conflict to raise, e.g. one naming who last changed the ticket the use case was given.
    """

    def decorate(function: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(function)
        def run(*args: P.args, **kwargs: P.kwargs) -> R:
            handler = (lambda: stale(*args, **kwargs)) if stale else None
            with transaction(handler, conflicts):
                return function(*args, **kwargs)

        return run

    return decorate(func) if func is not None else decorate
