"""Delivery: claim due outbox rows, render and build each email, hand it to a transport, record
the outcome.

A worker claims a batch in one short transaction (PostgreSQL: `FOR UPDATE SKIP LOCKED`, so
concurrent workers take disjoint rows; SQLite: the `BEGIN IMMEDIATE` write lock serialises the
claim), sends the batch over one connection, and records the outcomes as they happen — a
failure at once, sent messages in groups of at most RECORD_EVERY within RECORD_SECONDS, so a
worker killed mid-batch can have sent at most those few without recording them.

A claim lasts CLAIM_SECONDS past its last renewal. While a worker holds a batch, a heartbeat
thread renews the claim every quarter of that (`_ClaimKeeper`), so a batch may take as long as
it needs, and the rows of a worker that died are claimed again within CLAIM_SECONDS. A worker
sends only while its claim has at least half its length to run: should the heartbeat fail (the
database unreachable), it stops sending and hands the rest back long before another worker may
take the rows, so two live workers never send the same message. A stop request (the `stop`
event: SIGTERM to the scheduler or to `flask messaging deliver`) is heard between messages:
the worker records what it sent, hands back the rest of its batch and returns.

Each message is rendered as its email is built (compose.py), with the batch's templates and its
customers' names read inside the claim, so sending reads nothing; the text and headers sent are
stored with the sent message. A message its template cannot render fails alone, with the reason.

Transports (transports.py) hand the built email (mime.py) over: temporary failures — 4xx
replies, refused or lost connections, timeouts — are retried with exponential backoff and
jitter; a 5xx reply to the recipient or the data fails the message and suppresses the address.
"""

import logging
import os
import random
import re
import socket
import threading
import time
import uuid
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from email.utils import make_msgid, parseaddr
from typing import Any

from flask import current_app
from sqlalchemy import and_, bindparam, insert, select, update

from portal.core.extensions import db, dialect_name
from portal.core.logs import emit
from portal.core.transaction import transaction
from portal.customers.models import Customer
from portal.messaging.compose import Composed, Composer, RenderFailed
from portal.messaging.mime import Outgoing, build_email, check_address
from portal.messaging.models import Message, MessageStatus, Suppression
from portal.messaging.policy import suppressed_addresses
from portal.messaging.transports import Envelope, SendFailure, Transport, transport_from_config

log = logging.getLogger("portal.messaging")

DEFAULT_BATCH = 100
# A claim runs out this long after its last renewal; the holder renews it every quarter of it
# and sends only while at least half of it is left.
CLAIM_SECONDS = 60
IDLE_POLL_SECONDS = 5.0
# Sent messages are recorded in groups, one commit per group (a commit waits for the disk,
# milliseconds on a real one): at most this many, sent within this many seconds, are sent
# but not yet recorded — the messages a worker killed at that moment may send again.
RECORD_EVERY = 20
RECORD_SECONDS = 0.25
MAX_ATTEMPTS = 12  # with the delays below, a message is retried for five to ten hours
RETRY_BASE_SECONDS = 60
RETRY_CAP_SECONDS = 2 * 3600


def retry_delay(attempts: int) -> timedelta:
    """Wait after the `attempts`-th failed attempt: doubling from a minute up to two hours,
    scaled by a random 50–100 % so that messages failed together do not retry together."""
    ceiling = min(RETRY_CAP_SECONDS, RETRY_BASE_SECONDS * 2 ** max(attempts - 1, 0))
    return timedelta(seconds=ceiling * random.uniform(0.5, 1.0))


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"[-80:]


@dataclass
class DeliveryReport:
    sent: int = 0
    retrying: int = 0  # temporary failures put back with a later attempt time
    failed: int = 0
    suppressed: int = 0
    released: int = 0  # claimed but handed back unsent (stop requested or claim running out)
    batches: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


class _Clock:
    """`as_of`, advancing with the real time since the run started."""

    def __init__(self, as_of: datetime) -> None:
        self.start, self.started = as_of, time.monotonic()

    def now(self) -> datetime:
        return self.start + timedelta(seconds=time.monotonic() - self.started)


def _clip(text: str, length: int) -> str:
    return text if len(text) <= length else text[: length - 1] + "…"


def _emit(event: str, **fields: Any) -> None:
    emit(log, event, **fields)


_SERVER_REPLY = re.compile(r"\b(\d{3}) .*(\(\w+\))$", re.DOTALL)


def _loggable(reason: str) -> str:
    """A server's reply often quotes the recipient's address: the log gets its code only (the
    whole reply is on the message)."""
    reply = _SERVER_REPLY.search(reason)
    return f"{reply.group(1)} {reply.group(2)}" if reply else reason


_COLUMNS = (
    Message.id,
    Message.to_address,
    Message.message_id,
    Message.attempts,
    Message.customer_id,
    Message.purpose,
    Message.transactional,
    Message.locale,
    Message.template_key,
    Message.context,
    Message.headers,
    Message.subject,  # the text of a ready-made row (empty on the others)
    Message.body_text,
    Message.body_html,
)
_NO_SYNC = {"synchronize_session": False}


@dataclass(frozen=True)
class Claimed:
    """A claimed outbox row: where it goes, and what its email is made from."""

    id: int
    to_address: str
    message_id: str
    attempts: int
    row: Any  # the selected columns (compose.Source)
    name: str | None  # the customer's name, for `first_name`


def _customers_of(rows: list[Any]) -> dict[int, Any]:
    """What delivery reads about the batch's customers: their name and whether they can
    still be mailed."""
    ids = {row.customer_id for row in rows if row.customer_id is not None}
    if not ids:
        return {}
    return {
        c.id: c
        for c in db.session.execute(
            select(
                Customer.id,
                Customer.name,
                Customer.consent_care,
                Customer.consent_survey,
                Customer.consent_service,
                Customer.deceased,
                Customer.do_not_contact,
                Customer.erased_at,
            ).where(Customer.id.in_(sorted(ids)))
        )
    }


def _no_longer_reachable(rows: list[Any], people: dict[int, Any]) -> dict[int, str]:
    """Messages whose customer, since the message was queued, opted out of its purpose, was
    flagged deceased or do-not-contact, or was erased: held back with the reason, not sent."""
    held: dict[int, str] = {}
    for row in rows:
        person = people.get(row.customer_id)
        if person is None:
            continue
        if person.erased_at is not None:
            held[row.id] = "customer erased since queued"
        elif person.deceased:
            held[row.id] = "customer is deceased"
        elif person.do_not_contact:
            held[row.id] = "customer asked not to be contacted"
        elif not getattr(person, f"consent_{row.purpose}", True):
            held[row.id] = f"no consent for {row.purpose} messages (withdrawn since queued)"
    return held


_messages = Message.__table__
_RECORD_SENT = (
    update(_messages)
    .where(
        _messages.c.id == bindparam("row"),
        _messages.c.status == MessageStatus.SENDING.value,
        _messages.c.claimed_by == bindparam("worker"),
    )
    .values(
        status=MessageStatus.SENT.value,
        sent_at=bindparam("at"),
        attempts=bindparam("tries"),
        message_id=bindparam("mid"),
        # What was sent, on record whatever happens to the template later.
        subject=bindparam("subject"),
        body_text=bindparam("text"),
        body_html=bindparam("html"),
        headers=bindparam("sent_headers", type_=_messages.c.headers.type),
        last_error=None,
        claimed_by=None,
        claimed_until=None,
    )
)


class _ClaimKeeper(threading.Thread):
    """The heartbeat: every quarter of the claim, extends the worker's claim on the rows it
    holds to a full claim from now, on a connection of its own.

    Rows the worker is recording at that moment are locked by it (PostgreSQL) and skipped, not
    waited for: those are about to be let go anyway, and waiting could deadlock with the
    worker. `valid_until` (monotonic seconds) is how long the worker's claim is known to hold.
    """

    def __init__(self, worker: "Worker", clock: "_Clock") -> None:
        super().__init__(name=f"claim-{worker.name}", daemon=True)
        self.worker, self.clock = worker, clock
        self.engine = db.engine
        self.stopped = threading.Event()
        self.valid_until = float("inf")  # nothing held
        self._held: tuple[int, ...] = ()
        self._lock = threading.Lock()

    def hold(self, ids: list[int], since: float) -> None:
        """The worker claimed `ids`, for a claim counted from `since` (monotonic)."""
        with self._lock:
            self._held = tuple(ids)
            self.valid_until = since + self.worker.claim_seconds

    def let_go(self) -> None:
        with self._lock:
            self._held = ()
            self.valid_until = float("inf")

    def run(self) -> None:
        while not self.stopped.wait(self.worker.claim_seconds / 4):
            # Taken before the rows are read: the renewed claim runs at least this long.
            renewing = time.monotonic()
            held = self._held
            if not held:
                continue
            try:
                self.renew(held)
            except Exception as error:
                _emit("mail.claim_not_renewed", worker=self.worker.name, error=str(error)[:200])
                continue
            with self._lock:
                if self._held == held:
                    self.valid_until = max(self.valid_until, renewing + self.worker.claim_seconds)

    def finish(self) -> None:
        """Stop renewing. A renewal still waiting for the database is not waited for long: it
        touches only rows this worker still holds."""
        self.stopped.set()
        self.join(timeout=2)

    def renew(self, held: tuple[int, ...]) -> None:
        mine = (
            select(_messages.c.id)
            .where(
                _messages.c.id.in_(held),
                _messages.c.status == MessageStatus.SENDING.value,
                _messages.c.claimed_by == self.worker.name,
            )
            .with_for_update(skip_locked=True)
        )
        until = self.clock.now() + timedelta(seconds=self.worker.claim_seconds)
        with self.engine.begin() as connection:
            connection.execute(
                update(_messages).where(_messages.c.id.in_(mine)).values(claimed_until=until)
            )


class Worker:
    """Claims and delivers batches as `name`, recording every outcome as it happens."""

    def __init__(
        self,
        transport: Transport,
        *,
        name: str | None = None,
        batch_size: int = DEFAULT_BATCH,
        claim_seconds: float = CLAIM_SECONDS,
        stop: threading.Event | None = None,
    ) -> None:
        config = current_app.config
        self.transport = transport
        self.name = name or worker_name()
        self.batch_size = batch_size
        self.claim_seconds = claim_seconds
        self.sender = config["MAIL_FROM"]
        self.envelope_sender = parseaddr(self.sender)[1]
        self.domain = config.get("MAIL_DOMAIN") or "portal.invalid"
        self.stop = stop or threading.Event()
        self.keeper: _ClaimKeeper | None = None  # the heartbeat, while `run` runs
        self.report = DeliveryReport()
        self.composer = Composer()  # the claimed batch's templates
        self._unrecorded: list[dict[str, Any]] = []  # sent, not yet written
        self._unrecorded_since = 0.0

    # -- claiming

    def claim(self, now: datetime) -> tuple[list[Claimed], int]:
        """Claim up to a batch of due rows: (those to send, how many rows were handled).

        Rows whose address is invalid or suppressed are settled here, in the same transaction,
        in which the batch's templates (`self.composer`) and customers' names are read too.
        """
        with transaction():
            return self._claim(now)

    def _claim(self, now: datetime) -> tuple[list[Claimed], int]:
        due = (
            # A dead worker's claim first: those rows have waited longest.
            and_(Message.status == MessageStatus.SENDING.value, Message.claimed_until < now),
            and_(Message.status == MessageStatus.QUEUED.value, Message.next_attempt_at <= now),
            and_(Message.status == MessageStatus.DEFERRED.value, Message.next_attempt_at <= now),
        )
        rows: list[Any] = []
        for condition in due:
            wanted = self.batch_size - len(rows)
            if wanted <= 0:
                break
            rows.extend(
                db.session.execute(
                    select(*_COLUMNS)
                    .where(condition)
                    .order_by(Message.next_attempt_at, Message.id)
                    .limit(wanted)
                    .with_for_update(skip_locked=True)
                ).all()
            )
        if not rows:
            return [], 0
        bounced = suppressed_addresses((row.to_address or "").strip() for row in rows)
        people = _customers_of(rows)
        unreachable = _no_longer_reachable(rows, people)
        sendable: list[Claimed] = []
        for row in rows:
            address, problem = check_address(row.to_address)
            if row.id in unreachable:
                self._settle(row.id, MessageStatus.SUPPRESSED.value, held=unreachable[row.id])
            elif problem:
                self._settle(
                    row.id, MessageStatus.SUPPRESSED.value, held=f"invalid address: {problem}"
                )
            elif row.to_address.strip().lower() in bounced:
                reason = bounced[row.to_address.strip().lower()]
                self._settle(
                    row.id, MessageStatus.SUPPRESSED.value, held=f"address suppressed: {reason}"
                )
            else:
                person = people.get(row.customer_id) if row.customer_id is not None else None
                sendable.append(
                    Claimed(
                        id=row.id,
                        to_address=address or "",
                        message_id=row.message_id or make_msgid(domain=self.domain),
                        attempts=row.attempts or 0,
                        row=row,
                        name=person.name if person else None,
                    )
                )
        self.composer = Composer()
        self.composer.load(
            {(c.row.template_key, c.row.locale) for c in sendable if c.row.template_key}
        )
        if sendable:
            db.session.execute(
                update(Message)
                .where(Message.id.in_([o.id for o in sendable]))
                .values(
                    status=MessageStatus.SENDING.value,
                    claimed_by=self.name,
                    claimed_until=now + timedelta(seconds=self.claim_seconds),
                ),
                execution_options=_NO_SYNC,
            )
        return sendable, len(rows)

    # -- recording outcomes: failures at once, sent messages in small groups

    def _commit(self) -> None:
        """Write the sent messages not yet recorded, and commit with whatever else is pending.

        The worker keeps its own commit points rather than one use case per message: a commit
        waits for the disk, so sent messages are recorded in groups (RECORD_EVERY) while
        failures and settled rows ride along with the next group.
        """
        with transaction():
            self._record_sent()

    def _record_sent(self) -> None:
        if self._unrecorded:
            result = db.session.execute(_RECORD_SENT, self._unrecorded)
            if 0 <= result.rowcount < len(self._unrecorded):
                # Our claim ran out and another worker took rows: they may go out twice.
                _emit(
                    "mail.claim_lost",
                    worker=self.name,
                    messages=len(self._unrecorded) - result.rowcount,
                )
            self._unrecorded = []

    def _record_due(self) -> bool:
        return bool(self._unrecorded) and (
            len(self._unrecorded) >= RECORD_EVERY
            or time.monotonic() - self._unrecorded_since >= RECORD_SECONDS
        )

    def _settle(self, message_id: int, status: str, *, held: str) -> None:
        """Settle a row without sending it; the caller commits."""
        db.session.execute(
            update(Message)
            .where(Message.id == message_id)
            .values(
                status=status, held_reason=_clip(held, 200), claimed_by=None, claimed_until=None
            ),
            execution_options=_NO_SYNC,
        )
        self.report.suppressed += 1

    def _mine(self, message_id: int) -> Any:
        return and_(
            Message.id == message_id,
            Message.status == MessageStatus.SENDING.value,
            Message.claimed_by == self.name,
        )

    def _record(self, outgoing: Claimed, values: dict[str, Any]) -> None:
        result = db.session.execute(
            update(Message)
            .where(self._mine(outgoing.id))
            .values(claimed_by=None, claimed_until=None, **values),
            execution_options=_NO_SYNC,
        )
        if result.rowcount == 0:
            # Our claim ran out and another worker took the row: it may have been sent twice.
            _emit("mail.claim_lost", worker=self.name, message=outgoing.id)

    def _sent(self, outgoing: Claimed, content: Composed, now: datetime) -> None:
        if not self._unrecorded:
            self._unrecorded_since = time.monotonic()
        self._unrecorded.append(
            {
                "row": outgoing.id,
                "worker": self.name,
                "at": now,
                "tries": outgoing.attempts + 1,
                "mid": outgoing.message_id,
                "subject": content.subject,
                "text": content.body_text,
                "html": content.body_html,
                "sent_headers": content.headers,
            }
        )
        self.report.sent += 1
        if self._record_due():
            self._commit()

    def _retry_later(self, batch: list[Claimed], reason: str, now: datetime) -> None:
        for outgoing in batch:
            attempts = outgoing.attempts + 1
            if attempts >= MAX_ATTEMPTS:
                self._record(
                    outgoing,
                    {
                        "status": MessageStatus.FAILED.value,
                        "attempts": attempts,
                        "last_error": f"gave up after {attempts} attempts: {reason}",
                    },
                )
                self.report.failed += 1
                continue
            self._record(
                outgoing,
                {
                    "status": MessageStatus.QUEUED.value,
                    "attempts": attempts,
                    "next_attempt_at": now + retry_delay(attempts),
                    "last_error": reason,
                },
            )
            self.report.retrying += 1
        self._commit()
        _emit("mail.retry", worker=self.name, messages=len(batch), reason=_loggable(reason))

    def _failed(self, outgoing: Claimed, failure: SendFailure, now: datetime) -> None:
        self._record(
            outgoing,
            {
                "status": MessageStatus.FAILED.value,
                "attempts": outgoing.attempts + 1,
                "last_error": failure.reason,
            },
        )
        if failure.suppress:
            _suppress(outgoing.to_address, failure.reason, now)
        self._commit()
        self.report.failed += 1
        _emit(
            "mail.failed",
            worker=self.name,
            message=outgoing.id,
            reason=_loggable(failure.reason),
        )

    def _suppressed_now(self, outgoing: Claimed, reason: str) -> None:
        self._record(
            outgoing,
            {
                "status": MessageStatus.SUPPRESSED.value,
                "held_reason": _clip(f"address suppressed: {reason}", 200),
            },
        )
        self._commit()
        self.report.suppressed += 1

    def release(self, batch: list[Claimed]) -> None:
        """Hand claimed rows back unsent, as they were (no attempt counted)."""
        if not batch:
            return
        db.session.execute(
            update(Message)
            .where(
                Message.id.in_([o.id for o in batch]),
                Message.status == MessageStatus.SENDING.value,
                Message.claimed_by == self.name,
            )
            .values(status=MessageStatus.QUEUED.value, claimed_by=None, claimed_until=None),
            execution_options=_NO_SYNC,
        )
        self._commit()
        self.report.released += len(batch)

    # -- sending

    def send_batch(
        self, batch: list[Claimed], clock: _Clock, claimed_at: float | None = None
    ) -> bool:
        """Send a claimed batch (claimed at `claimed_at`, monotonic); False when the transport
        could not connect at all. Stops early, handing the rest back, when asked to or when
        the claim, not renewed, has less than half its length to run."""
        keeper = self.keeper or _ClaimKeeper(self, clock)  # not started: the claim as taken
        keeper.hold([o.id for o in batch], time.monotonic() if claimed_at is None else claimed_at)
        bounced: dict[str, str] = {}
        done = 0
        try:
            for outgoing in batch:
                if self.stop.is_set():
                    break
                if time.monotonic() > keeper.valid_until - self.claim_seconds / 2:
                    _emit("mail.claim_running_out", worker=self.name, unsent=len(batch) - done)
                    break
                if self._record_due():
                    self._commit()
                now = clock.now()
                if outgoing.to_address.lower() in bounced:
                    self._suppressed_now(outgoing, bounced[outgoing.to_address.lower()])
                    done += 1
                    continue
                try:
                    content = self.composer.compose(outgoing.row, outgoing.name)
                except RenderFailed as failure:
                    self._failed(outgoing, SendFailure(failure.reason, permanent=True), now)
                    done += 1
                    continue
                try:
                    mail = build_email(_email_of(outgoing, content), self.sender, now)
                except (ValueError, TypeError) as error:  # e.g. a line break in a header
                    self._failed(outgoing, SendFailure(f"cannot build the email: {error}"), now)
                    done += 1
                    continue
                envelope = Envelope(self.envelope_sender, outgoing.to_address, outgoing.id, now)
                try:
                    self.transport.send(mail, envelope)
                except SendFailure as failure:
                    if failure.connection_failed:
                        self._retry_later(batch[done:], failure.reason, now)
                        done = len(batch)
                        return False
                    if failure.permanent:
                        self._failed(outgoing, failure, now)
                        if failure.suppress:
                            bounced[outgoing.to_address.lower()] = failure.reason
                    else:
                        self._retry_later([outgoing], failure.reason, now)
                    done += 1
                    continue
                self._sent(outgoing, content, now)
                done += 1
        finally:
            try:
                self._commit()  # what went out is recorded, whatever happened after
                self.release(batch[done:])
            finally:
                keeper.let_go()
        return True

    def run(self, as_of: datetime, *, until_empty: bool, poll_seconds: float) -> DeliveryReport:
        """Claim and send batches until stopped, or, with `until_empty`, until nothing is due."""
        clock = _Clock(as_of)
        self.keeper = _ClaimKeeper(self, clock)
        self.keeper.start()
        try:
            while not self.stop.is_set():
                claimed_at = time.monotonic()  # no later than the `now` the claim counts from
                batch, handled = self.claim(clock.now())
                if batch:
                    self.report.batches += 1
                    connected = self.send_batch(batch, clock, claimed_at)
                else:
                    connected = True
                if handled and connected:
                    continue
                if until_empty:
                    break
                self.transport.close()  # no idle connection while waiting
                self.stop.wait(poll_seconds)
        finally:
            self.keeper.finish()
            self.keeper = None
            self.transport.close()
        return self.report


def _email_of(claimed: Claimed, content: Composed) -> Outgoing:
    return Outgoing(
        id=claimed.id,
        to_address=claimed.to_address,
        subject=content.subject,
        body_text=content.body_text,
        body_html=content.body_html,
        headers=content.headers,
        message_id=claimed.message_id,
        attempts=claimed.attempts,
    )


def _suppress(address: str, reason: str, now: datetime) -> None:
    values = {"address": address.lower(), "reason": _clip(reason, 300), "created_at": now}
    if dialect_name() == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        db.session.execute(pg_insert(Suppression).values(values).on_conflict_do_nothing())
    else:
        db.session.execute(insert(Suppression).prefix_with("OR IGNORE").values(values))


def deliver_due(
    as_of: datetime,
    *,
    transport: Transport | None = None,
    worker: str | None = None,
    batch_size: int = DEFAULT_BATCH,
    claim_seconds: float = CLAIM_SECONDS,
    until_empty: bool = True,
    poll_seconds: float = IDLE_POLL_SECONDS,
    stop: threading.Event | None = None,
) -> DeliveryReport:
    """Deliver what is due as of `as_of` (then as time passes), with the configured transport
    unless one is given. Needs an app context."""
    runner = Worker(
        transport or transport_from_config(current_app.config),
        name=worker,
        batch_size=batch_size,
        claim_seconds=claim_seconds,
        stop=stop,
    )
    return runner.run(as_of, until_empty=until_empty, poll_seconds=poll_seconds)
