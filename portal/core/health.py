"""Health of what the portal depends on."""

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from portal.core.extensions import db


def database_reachable() -> bool:
    try:
        db.session.execute(text("SELECT 1"))
    except SQLAlchemyError:
        db.session.rollback()
        return False
    db.session.rollback()
    return True
