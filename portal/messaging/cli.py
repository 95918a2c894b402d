"""`flask messaging deliver`: a delivery worker, for extra throughput beside the scheduler."""

import signal
import threading
from typing import Any

import click
from flask.cli import AppGroup

from portal.core.timeutil import utc_now
from portal.messaging.delivery import (
    CLAIM_SECONDS,
    DEFAULT_BATCH,
    IDLE_POLL_SECONDS,
    deliver_due,
    worker_name,
)

messaging_cli = AppGroup("messaging", help="Outgoing email.")


@messaging_cli.command("deliver")
@click.option(
    "--batch",
    "batch_size",
    type=click.IntRange(1, 1000),
    default=DEFAULT_BATCH,
    show_default=True,
    help="Messages claimed, and sent over one connection, at a time.",
)
@click.option(
    "--until-empty", is_flag=True, help="Stop once nothing is due, instead of waiting for more."
)
@click.option("--worker", help="Name recorded on claimed rows (default: host:pid:random).")
@click.option(
    "--claim-seconds",
    type=click.IntRange(2),
    default=CLAIM_SECONDS,
    show_default=True,
    help="How long a claim holds; rows of a worker that died are taken again after it.",
)
@click.option(
    "--poll",
    "poll_seconds",
    type=click.FloatRange(0.1),
    default=IDLE_POLL_SECONDS,
    show_default=True,
    help="Seconds to wait when nothing is due.",
)
def deliver(
    batch_size: int, until_empty: bool, worker: str | None, claim_seconds: int, poll_seconds: float
) -> None:
    """Deliver due messages until stopped (Ctrl-C or SIGTERM) or, with --until-empty, done.

    Safe to run in several processes at once, and beside the scheduler's messaging.deliver
    job: each claims its own rows. On stop it finishes the message in hand and hands its
    other claimed rows back.
    """
    stop = threading.Event()

    def request_stop(_signum: int, _frame: Any) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    name = worker or worker_name()
    try:
        report = deliver_due(
            utc_now(),
            worker=name,
            batch_size=batch_size,
            claim_seconds=claim_seconds,
            until_empty=until_empty,
            poll_seconds=poll_seconds,
            stop=stop,
        )
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    click.echo(
        f"Worker {name}: {report.sent} sent, {report.retrying} to retry later, "
        f"{report.failed} failed, {report.suppressed} suppressed, {report.released} handed back "
        f"({report.batches} batches)"
    )
