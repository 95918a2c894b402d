"""Extensions, created unbound; `create_app` binds them to an app."""

from collections.abc import Iterable
from typing import Any

from flask_babel import Babel
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import ARRAY, ColumnElement, any_, bindparam

from portal.core.models import Base

db = SQLAlchemy(model_class=Base)
migrate = Migrate(compare_type=True, render_as_batch=True)
login_manager = LoginManager()
csrf = CSRFProtect()
babel = Babel()
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
