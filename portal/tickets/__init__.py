"""Complaint and feedback tickets under regulatory clocks, their channels and notices."""

from flask import Flask

from portal.jobs.registry import JobDefinition, register_jobs

JOBS = [
    JobDefinition(
        id="tickets.clock_watch",
        func="portal.tickets.jobs:clock_watch",
        trigger={"type": "interval", "minutes": 5},
        description="Warn assignees of tickets at 80 % of their time; escalate breaches to leads.",
        lease_seconds=5 * 60,
    ),
    JobDefinition(
        id="tickets.fetch_mail",
        func="portal.tickets.jobs:fetch_mail",
        trigger={"type": "interval", "minutes": 1},
        description="Fetch new email from the IMAP mailbox (IMAP_HOST) into tickets.",
        lease_seconds=10 * 60,
    ),
]


def init_app(app: Flask) -> None:
    from portal.core.cli import import_group
    from portal.core.home import register_panel
    from portal.core.registry import contribute
    from portal.customers.my_day import register_section
    from portal.customers.privacy import register_erasure_step, register_export_section
    from portal.customers.timeline import register_provider
    from portal.messaging.policy import register_state_rule
    from portal.tickets import audit_subjects, home, privacy, routes
    from portal.tickets.channels.correspondence_views import bp as correspondence_bp
    from portal.tickets.channels.public_views import bp as public_bp
    from portal.tickets.channels.suspected_spam_views import bp as suspected_spam_bp
    from portal.tickets.cli import import_complaints_command, tickets_cli
    from portal.tickets.contact_policy import customers_with_open_complaints
    from portal.tickets.my_day import complaints_section
    from portal.tickets.refusals import PAGE
    from portal.tickets.ticket_views import render_ticket_page
    from portal.tickets.timeline import ticket_entries

    app.register_blueprint(routes.bp)
    app.register_blueprint(public_bp)
    app.register_blueprint(correspondence_bp)
    app.register_blueprint(suspected_spam_bp)
    app.jinja_env.globals.update(routes.template_globals())
    contribute(app, PAGE, "render", render_ticket_page)
    app.cli.add_command(tickets_cli)
    import_group(app).add_command(import_complaints_command)
    register_jobs(app, JOBS)
    register_provider(app, "ticket", ticket_entries)
    register_export_section(app, "tickets", privacy.export_tickets)
    register_export_section(app, "held_web_submissions", privacy.export_held)
    register_erasure_step(app, "tickets", privacy.erase_tickets)
    register_state_rule(app, "open_complaint", customers_with_open_complaints)
    register_section(app, "complaints", complaints_section)
    register_panel(app, "tickets.due_soon", home.HANDLER_ROLES, home.my_due_soon, position=10)
    register_panel(app, "tickets.breached", home.LEAD_ROLES, home.breached, position=10)
    register_panel(app, "tickets.at_risk", home.LEAD_ROLES, home.at_risk, position=20)
    register_panel(
        app, "tickets.notifications", home.NOTIFIED_ROLES, home.unread_notifications, position=30
    )
    audit_subjects.register(app)
