"""Extensions, created unbound; `create_app` binds them to an app."""

from collections.abc import Iterable
from functools import cached_property
from typing import Any

from flask import g, has_app_context
from flask_babel import Babel, Domain
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import ARRAY, ColumnElement, any_, bindparam

from portal.core.models import Base


class RequestDomain(Domain):
    """Flask-Babel's message domain, keeping the request's translations for the request.

    The stock lookup resolves the domain, the locale and its cache key again on every call
    (about 7 µs, and a page translates 60 to 160 strings). The translations are kept in the slot
    Flask-Babel itself empties whenever the language changes within a request: `force_locale`
    (an email in the customer's language, sent from a staff page) and `refresh`.
    """

    def get_translations(self) -> Any:
        if not has_app_context():
            return super().get_translations()
        app_globals = g._get_current_object()
        kept = getattr(getattr(app_globals, "_flask_babel", None), "babel_translations", None)
        if kept is None:
            kept = super().get_translations()  # makes the per-request state if missing
            state = getattr(app_globals, "_flask_babel", None)
            if state is not None:
                state.babel_translations = kept
        return kept


class PortalBabel(Babel):
    """Flask-Babel with `RequestDomain` as the default domain, for templates and code alike.

    Templates ask the domain directly rather than through `get_domain()` on every string; the
    portal never switches domains within a request (`Domain.as_default`).
    """

    @cached_property
    def domain_instance(self) -> Domain:
        return RequestDomain(domain=self.domain)

    def init_app(self, app: Any, *args: Any, **kwargs: Any) -> None:
        super().init_app(app, *args, **kwargs)
        if not self._configure_jinja:
            return

        def translations() -> Any:
            return self.domain_instance.get_translations()

        app.jinja_env.install_gettext_callables(
            gettext=lambda s: translations().ugettext(s),
            ngettext=lambda s, p, n: translations().ungettext(s, p, n),
            newstyle=True,
            pgettext=lambda c, s: translations().upgettext(c, s),
            npgettext=lambda c, s, p, n: translations().unpgettext(c, s, p, n),
        )


db = SQLAlchemy(model_class=Base)
migrate = Migrate(compare_type=True, render_as_batch=True)
login_manager = LoginManager()
csrf = CSRFProtect()
babel = PortalBabel()
limiter = Limiter(key_func=get_remote_address)


def dialect_name() -> str:
    """The database in use ("sqlite", "postgresql"), for the few queries written per database."""
    return db.session.get_bind().dialect.name


def among(column: Any, values: Iterable[Any]) -> ColumnElement[bool]:
    """`column IN (values)`, written as `= ANY(array)` on PostgreSQL.

    psycopg takes longer to prepare an IN list of a thousand parameters than the server takes
    to run the query; one array parameter costs next to nothing.
    """
    if dialect_name() == "postgresql":
        return column == any_(bindparam(None, list(values), type_=ARRAY(column.type)))
    return column.in_(list(values))
