"""Customers, their credit accounts, consent and flags, contacts, follow-ups, the 360 timeline."""

from flask import Flask


def init_app(app: Flask) -> None:
    from portal.core.access import Role
    from portal.core.cli import import_group
    from portal.core.home import register_page
    from portal.customers import audit_subjects
    from portal.customers.cli import import_customers_command
    from portal.customers.contacts import contact_entries, follow_up_entries
    from portal.customers.routes import TEMPLATE_GLOBALS, bp, my_day_home
    from portal.customers.timeline import register_provider

    app.register_blueprint(bp)
    app.jinja_env.globals.update(TEMPLATE_GLOBALS)
    import_group(app).add_command(import_customers_command)
    register_provider(app, "contact", contact_entries)
    register_provider(app, "follow_up", follow_up_entries)
    register_page(app, Role.RM, my_day_home)
    audit_subjects.register(app)
