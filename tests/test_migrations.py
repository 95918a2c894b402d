"""`upgrade head` on an empty database gives exactly the models' schema, and downgrades cleanly."""

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade

from portal import create_app
from portal.core.extensions import db
from tests.conftest import config_for
from tests.support.databases import fresh_database


def schema_differences(app) -> list:
    with app.app_context(), db.engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "compare_server_default": False}
        )
        return compare_metadata(context, db.metadata)


def test_upgrade_head_matches_the_models_and_downgrade_empties(backend, tmp_path) -> None:
    with fresh_database(backend, tmp_path) as url:
        app = create_app(config_for(url))
        with app.app_context():
            upgrade()
        assert schema_differences(app) == []
        with app.app_context():
            downgrade(revision="base")
            tables = set(sa.inspect(db.engine).get_table_names()) - {"alembic_version"}
            assert tables == set()
            upgrade()
        assert schema_differences(app) == []
        with app.app_context():
            db.engine.dispose()
