"""Messaging: the outbox, mail transports, templates, the contact policy and unsubscribe."""

from flask import Flask

from portal.jobs.registry import JobDefinition, register_jobs

JOBS = [
    JobDefinition(
        id="messaging.deliver",
        func="portal.messaging.jobs:deliver",
        trigger={"type": "interval", "seconds": 30},
        description="Send due outbox messages (SMTP or .eml files); retry, fail, suppress.",
        lease_seconds=10 * 60,
    ),
]


def init_app(app: Flask) -> None:
    from portal.core.home import register_panel
    from portal.customers.privacy import register_erasure_step, register_export_section
    from portal.customers.timeline import register_provider
    from portal.messaging import audit_subjects, home, privacy
    from portal.messaging.cli import messaging_cli
    from portal.messaging.routes import TEMPLATE_GLOBALS, bp
    from portal.messaging.timeline import message_entries

    app.register_blueprint(bp)
    app.jinja_env.globals.update(TEMPLATE_GLOBALS)
    app.cli.add_command(messaging_cli)
    register_jobs(app, JOBS)
    register_provider(app, "message", message_entries)
    register_export_section(app, "messages", privacy.export_messages)
    register_erasure_step(app, "messages", privacy.erase_customer_messages)
    register_panel(app, "messaging.outbox", home.ROLES, home.outbox_health, position=20)
    audit_subjects.register(app)
