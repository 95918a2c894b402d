"""Health of what the portal depends on."""

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from portal.core.extensions import db
from portal.core.transaction import transaction


def database_reachable() -> bool:
    """Whether the database answers. The probe's transaction ends either way, so the next
    request draws a connection afresh."""
    try:
        with transaction():
            db.session.execute(text("SELECT 1"))
    except SQLAlchemyError:
        return False
    return True
