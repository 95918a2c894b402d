"""Delivery sends each due message once, over SMTP or to .eml files, retries what may succeed
later, and fails, suppresses and records what cannot."""

import email
import shutil
import ssl
import subprocess
import threading
from datetime import UTC, datetime, timedelta
from email import policy
from email.utils import parsedate_to_datetime
from functools import partial
from pathlib import Path

import pytest
from aiosmtpd.smtp import AuthResult
from sqlalchemy import delete, func, select

from portal.core.extensions import db as _db
from portal.core.timeutil import as_utc
from portal.jobs.runner import run_job
from portal.messaging import delivery, services
from portal.messaging.delivery import MAX_ATTEMPTS, deliver_due, retry_delay
from portal.messaging.models import Message, Suppression
from portal.messaging.transports import FileTransport, SmtpTransport
from tests import factories
from tests.factories import make_customer
from tests.support.smtp_sink import DROP, SmtpSink

AS_OF = datetime(2026, 12, 1, 4, 0, tzinfo=UTC)  # noon in Shanghai: no quiet hours
# Messages due a minute before AS_OF.
make_message = partial(factories.make_message, at=AS_OF)


def reload(message: Message) -> Message:
    _db.session.expire_all()
    return _db.session.get(Message, message.id)


@pytest.fixture
def sink():
    server = SmtpSink().start()
    yield server
    server.stop()


def smtp_to(server: SmtpSink, **options: object) -> SmtpTransport:
    return SmtpTransport(server.host, server.port, timeout=5, **options)


def test_a_greeting_is_written_as_a_multipart_eml_with_its_headers(app, db, tmp_path):
    customer = make_customer(name="王小明", consent_care=True, locale="zh_Hans")
    services.queue(
        [
            services.Draft(
                dedupe_key=f"birthday:{customer.id}",
                customer_id=customer.id,
                purpose="care",
                kind="birthday",
                template_key="birthday",
                send_at=AS_OF,
            )
        ],
        now=AS_OF,
    )
    _db.session.commit()
    message = _db.session.scalar(select(Message).where(Message.customer_id == customer.id))

    report = deliver_due(AS_OF, transport=FileTransport(tmp_path))

    assert report.sent == 1
    files = list(tmp_path.rglob("*"))
    path = tmp_path / "2026-12-01" / f"{message.id}.eml"
    assert [f for f in files if f.is_file()] == [path]  # no temporary file left behind
    parsed = email.message_from_bytes(path.read_bytes(), policy=policy.default)
    assert parsed.get_content_type() == "multipart/alternative"
    assert [part.get_content_type() for part in parsed.iter_parts()] == ["text/plain", "text/html"]
    assert "小明" in parsed.get_body(("plain",)).get_content()
    assert parsed["Subject"] == "「广告」小明，生日快乐！"  # rendered as it was sent
    assert message.template_key == "birthday" and reload(message).subject == parsed["Subject"]
    assert parsed["To"] == customer.email
    assert parsed["From"] == app.config["MAIL_FROM"]
    assert parsed["Message-ID"] == message.message_id
    assert parsedate_to_datetime(parsed["Date"]) - AS_OF < timedelta(seconds=30)
    assert " ".join(parsed["List-Unsubscribe"].split()) == message.headers["List-Unsubscribe"]
    assert (
        b"=?utf-8?"
        not in path.read_bytes().split(b"List-Unsubscribe-Post")[0].split(b"List-Unsubscribe:")[1]
    )
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    sent = reload(message)
    assert (sent.status, sent.attempts, sent.claimed_by) == ("sent", 1, None)
    assert sent.sent_at - AS_OF < timedelta(seconds=30)


def test_an_english_text_only_email_stays_readable(db, tmp_path):
    message = make_message(body_text="Dear Sam,\n\nHappy birthday.", body_html="")
    deliver_due(AS_OF, transport=FileTransport(tmp_path))
    raw = (tmp_path / "2026-12-01" / f"{message.id}.eml").read_bytes()
    parsed = email.message_from_bytes(raw, policy=policy.default)
    assert parsed.get_content_type() == "text/plain"
    assert parsed["Content-Transfer-Encoding"] == "7bit"
    assert b"\n\nHappy birthday.\n" in raw
    assert parsed.get_content() == "Dear Sam,\n\nHappy birthday.\n"


def test_the_scheduled_job_delivers_with_the_configured_transport(app, db, tmp_path, monkeypatch):
    monkeypatch.setitem(app.config, "MAIL_TRANSPORT", "file")
    monkeypatch.setitem(app.config, "MAIL_DIR", str(tmp_path))
    transactional = make_message(transactional=True, purpose="service", kind="reminder")

    outcome = run_job("messaging.deliver", as_of=AS_OF)

    assert outcome.outcome == "succeeded", outcome.error
    assert outcome.summary["sent"] == 1
    parsed = email.message_from_bytes(
        (tmp_path / "2026-12-01" / f"{transactional.id}.eml").read_bytes(), policy=policy.default
    )
    assert "List-Unsubscribe" not in parsed  # transactional mail carries no unsubscribe
    assert reload(transactional).status == "sent"


def test_a_batch_goes_over_one_connection_and_a_second_run_sends_nothing(db, sink):
    messages = [make_message() for _ in range(5)]
    later = make_message(next_attempt_at=AS_OF + timedelta(hours=1))
    transport = smtp_to(sink)

    first = deliver_due(AS_OF, transport=transport)
    second = deliver_due(AS_OF, transport=smtp_to(sink))

    assert (first.sent, second.sent) == (5, 0)
    assert transport.connections == 1
    received = sink.handler.received
    assert [r.message_id for r in received] == [m.message_id for m in messages]
    assert [r.rcpt_tos for r in received] == [(m.to_address,) for m in messages]
    assert {r.mail_from for r in received} == {"care@portal.invalid"}
    assert reload(later).status == "queued"  # not due yet
    assert deliver_due(AS_OF + timedelta(hours=1), transport=smtp_to(sink)).sent == 1


def test_a_message_deferred_for_quiet_hours_goes_when_they_end(db, sink):
    morning = AS_OF + timedelta(hours=8)
    message = make_message(status="deferred", held_reason="quiet hours", next_attempt_at=morning)
    assert deliver_due(AS_OF, transport=smtp_to(sink)).sent == 0
    assert deliver_due(morning, transport=smtp_to(sink)).sent == 1
    assert reload(message).status == "sent"
    assert [r.message_id for r in sink.handler.received] == [message.message_id]


def test_refused_connections_are_retried_with_backoff_until_the_server_recovers(db):
    server = SmtpSink()  # not started: its port refuses connections
    messages = [make_message() for _ in range(5)]

    first = deliver_due(AS_OF, transport=smtp_to(server), batch_size=2)

    # The first batch waits with its attempt counted; the run stops instead of hammering.
    assert (first.sent, first.retrying) == (0, 2)
    tried = [reload(m) for m in messages[:2]]
    for message in tried:
        assert (message.status, message.attempts, message.claimed_by) == ("queued", 1, None)
        assert "cannot connect" in message.last_error
        wait = message.next_attempt_at - AS_OF
        assert timedelta(seconds=30) <= wait <= timedelta(seconds=61)
    assert [reload(m).attempts for m in messages[2:]] == [0, 0, 0]

    second = deliver_due(AS_OF + timedelta(seconds=5), transport=smtp_to(server), batch_size=10)
    assert second.retrying == 3
    again = deliver_due(AS_OF + timedelta(minutes=2), transport=smtp_to(server), batch_size=10)
    assert again.retrying == 5
    assert {reload(m).attempts for m in messages} == {2}
    assert all(
        timedelta(seconds=60)
        <= reload(m).next_attempt_at - (AS_OF + timedelta(minutes=2))
        <= timedelta(seconds=121)
        for m in messages
    )

    server.start()
    try:
        recovered = deliver_due(AS_OF + timedelta(minutes=5), transport=smtp_to(server))
    finally:
        server.stop()
    assert recovered.sent == 5
    assert sorted(server.handler.message_ids().values()) == [1] * 5
    assert {(reload(m).status, reload(m).attempts) for m in messages} == {("sent", 3)}


def test_421_451_and_a_dropped_connection_are_retried_and_nothing_is_lost(db, sink):
    messages = [make_message() for _ in range(6)]
    sink.handler.replies["DATA"].extend(["421 4.3.2 shutting down", DROP, "451 4.3.0 try later"])
    sink.handler.replies["RCPT"].append("450 4.2.1 mailbox busy")
    transport = smtp_to(sink)

    first = deliver_due(AS_OF, transport=transport)

    assert (first.sent, first.retrying) == (2, 4)
    assert transport.connections == 3  # reconnected after the 421 and after the drop
    errors = sorted(reload(m).last_error or "" for m in messages)
    assert any(e.startswith("421 4.3.2 shutting down") for e in errors)
    assert any(e.startswith("451 4.3.0 try later (DATA)") for e in errors)
    assert any(e.startswith("450 4.2.1 mailbox busy (RCPT)") for e in errors)
    assert any(e.startswith("connection lost") for e in errors)

    recovered = deliver_due(AS_OF + timedelta(minutes=3), transport=smtp_to(sink))

    assert recovered.sent == 4
    assert sink.handler.message_ids() == {m.message_id: 1 for m in messages}
    assert {reload(m).status for m in messages} == {"sent"}


def test_a_5xx_fails_the_message_and_suppresses_the_address(db, sink):
    customer = make_customer(email="Gone@Mail.Example.com", consent_care=True)
    bounced = make_message(to_address=customer.email, customer_id=customer.id)
    same_address = make_message(to_address="gone@mail.example.com")
    other = make_message()
    sink.handler.refuse["Gone@mail.example.com"] = "550 5.1.1 no such user"

    report = deliver_due(AS_OF, transport=smtp_to(sink))

    assert (report.sent, report.failed, report.suppressed) == (1, 1, 1)
    failed = reload(bounced)
    assert (failed.status, failed.attempts) == ("failed", 1)
    assert failed.last_error == "550 5.1.1 no such user (RCPT)"
    suppression = _db.session.get(Suppression, "gone@mail.example.com")
    assert suppression.reason == "550 5.1.1 no such user (RCPT)"
    held = reload(same_address)
    assert (held.status, held.held_reason) == (
        "suppressed",
        "address suppressed: 550 5.1.1 no such user (RCPT)",
    )
    assert reload(other).status == "sent"
    assert [r.message_id for r in sink.handler.received] == [other.message_id]

    # Later messages to the address are held back when queued.
    services.queue(
        [
            services.Draft(
                dedupe_key="after-bounce",
                customer_id=customer.id,
                purpose="care",
                kind="birthday",
                template_key="birthday",
                send_at=AS_OF,
            )
        ],
        now=AS_OF,
    )
    after = _db.session.scalar(select(Message).where(Message.dedupe_key == "after-bounce"))
    assert after.held_reason == "address suppressed: 550 5.1.1 no such user (RCPT)"


def test_a_5xx_to_the_data_fails_and_suppresses_too(db, sink):
    message = make_message()
    sink.handler.replies["DATA"].append("554 5.7.1 rejected as spam")
    assert deliver_due(AS_OF, transport=smtp_to(sink)).failed == 1
    assert reload(message).last_error == "554 5.7.1 rejected as spam (DATA)"
    assert _db.session.get(Suppression, message.to_address.lower()) is not None


def test_an_invalid_address_suppresses_only_that_message(db, sink):
    bad = make_message(to_address="not an address")
    double_at = make_message(to_address="someone@@mail.example.com")
    empty = make_message(to_address=None)
    good = [make_message(), make_message()]

    report = deliver_due(AS_OF, transport=smtp_to(sink))

    assert (report.sent, report.suppressed) == (2, 3)
    for message in (bad, double_at, empty):
        held = reload(message)
        assert held.status == "suppressed"
        assert held.held_reason.startswith("invalid address: ")
    assert reload(empty).held_reason == "invalid address: no address"
    assert _db.session.scalar(select(func.count()).select_from(Suppression)) == 0
    assert [r.message_id for r in sink.handler.received] == [m.message_id for m in good]


def test_an_address_suppressed_after_queueing_is_not_mailed(db, sink):
    message = make_message(to_address="later@mail.example.com")
    _db.session.add(Suppression(address="later@mail.example.com", reason="550", created_at=AS_OF))
    _db.session.commit()
    assert deliver_due(AS_OF, transport=smtp_to(sink)).suppressed == 1
    assert reload(message).held_reason == "address suppressed: 550"
    assert sink.handler.received == []


def test_a_dead_workers_claim_is_taken_over_once_it_expires(db, sink):
    expired = make_message(
        status="sending", claimed_by="dead", claimed_until=AS_OF - timedelta(seconds=1)
    )
    live = make_message(
        status="sending", claimed_by="alive", claimed_until=AS_OF + timedelta(minutes=4)
    )

    assert deliver_due(AS_OF, transport=smtp_to(sink)).sent == 1

    assert reload(expired).status == "sent"
    assert (reload(live).status, reload(live).claimed_by) == ("sending", "alive")
    assert [r.message_id for r in sink.handler.received] == [expired.message_id]


def test_a_message_is_failed_after_the_last_attempt(db):
    message = make_message(attempts=MAX_ATTEMPTS - 1)
    report = deliver_due(AS_OF, transport=smtp_to(SmtpSink()))
    assert report.failed == 1
    failed = reload(message)
    assert (failed.status, failed.attempts) == ("failed", MAX_ATTEMPTS)
    assert failed.last_error.startswith(f"gave up after {MAX_ATTEMPTS} attempts: cannot connect")
    assert _db.session.scalar(select(func.count()).select_from(Suppression)) == 0


def test_backoff_doubles_up_to_a_cap_with_jitter():
    for attempts, ceiling in [(1, 60), (2, 120), (3, 240), (7, 3840), (8, 7200), (20, 7200)]:
        waits = [retry_delay(attempts).total_seconds() for _ in range(200)]
        assert all(ceiling / 2 <= wait <= ceiling for wait in waits)
        assert max(waits) - min(waits) > ceiling / 10  # spread out, not in lockstep


def test_stopping_hands_the_unsent_rest_of_the_batch_back(db, sink):
    messages = [make_message() for _ in range(4)]
    stop = threading.Event()

    class StopAfterFirst(SmtpTransport):
        def send(self, email_message, envelope):
            super().send(email_message, envelope)
            stop.set()

    report = deliver_due(
        AS_OF, transport=StopAfterFirst(sink.host, sink.port, timeout=5), stop=stop
    )

    assert (report.sent, report.released) == (1, 3)
    rest = [reload(m) for m in messages[1:]]
    assert {(m.status, m.attempts, m.claimed_by) for m in rest} == {("queued", 0, None)}
    assert len(sink.handler.received) == 1


@pytest.fixture
def committed(app):
    """Rows committed for real, for the claim's heartbeat, which renews them on a connection
    of its own; deleted after the test."""
    with app.app_context():
        yield _db
        _db.session.rollback()
        _db.session.execute(delete(Message))
        _db.session.commit()
        _db.session.remove()


def test_the_heartbeat_keeps_a_claim_for_a_batch_that_outlasts_it(committed, sink):
    messages = [make_message() for _ in range(10)]
    sink.handler.delay = 0.15  # 1.5 s for the batch, under a 0.8 s claim renewed every 0.2 s
    claims = []

    class Watching(SmtpTransport):
        def send(self, email_message, envelope):
            with _db.engine.connect() as other:  # what another worker would see
                claims.append(
                    other.scalar(select(Message.claimed_until).where(Message.id == envelope.key))
                )
            super().send(email_message, envelope)

    report = deliver_due(
        AS_OF, transport=Watching(sink.host, sink.port, timeout=5), claim_seconds=0.8
    )

    assert (report.sent, report.released, report.batches) == (10, 0, 1)
    assert len(sink.handler.received) == 10
    # The last message was still claimed when it went, well past the claim first taken.
    assert as_utc(claims[-1]) > AS_OF + timedelta(seconds=1.5)
    assert {reload(m).status for m in messages} == {"sent"}


def test_a_worker_whose_heartbeat_fails_stops_sending_before_its_claim_runs_out(
    db, sink, monkeypatch, caplog
):
    messages = [make_message() for _ in range(10)]
    sink.handler.delay = 0.15

    def unreachable(keeper, held):
        raise OSError("database unreachable")

    monkeypatch.setattr(delivery._ClaimKeeper, "renew", unreachable)
    report = deliver_due(AS_OF, transport=smtp_to(sink), claim_seconds=0.8)

    # Half the 0.8 s claim is 0.4 s: two or three messages go in each batch, the rest is
    # handed back and claimed afresh (a new claim, taken in the worker's own transaction).
    assert report.sent == 10 and report.released >= 5 and report.batches >= 3
    assert sorted(sink.handler.message_ids().values()) == [1] * 10
    assert {reload(m).status for m in messages} == {"sent"}
    logged = " ".join(r.message for r in caplog.records)
    assert '"event": "mail.claim_not_renewed"' in logged and "database unreachable" in logged
    assert '"event": "mail.claim_running_out"' in logged


def test_the_cli_worker_delivers_until_nothing_is_due(app, runner, monkeypatch, tmp_path):
    monkeypatch.setitem(app.config, "MAIL_TRANSPORT", "file")
    monkeypatch.setitem(app.config, "MAIL_DIR", str(tmp_path))
    now = datetime.now(UTC)
    messages = [make_message(next_attempt_at=now - timedelta(minutes=1)) for _ in range(3)]

    result = runner.invoke(
        args=["messaging", "deliver", "--until-empty", "--batch", "2", "--worker", "w1"]
    )

    assert result.exit_code == 0, result.output
    assert "Worker w1: 3 sent, 0 to retry later, 0 failed, 0 suppressed" in result.output
    assert "(2 batches)" in result.output
    assert len(list(tmp_path.rglob("*.eml"))) == 3
    assert {reload(m).status for m in messages} == {"sent"}


@pytest.fixture
def tls_files(tmp_path: Path) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


def test_smtp_uses_starttls_and_logs_in(db, tls_files):
    cert, key = tls_files
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert, key)
    logins = []

    def authenticator(server, session, envelope, mechanism, auth_data):
        logins.append((mechanism, auth_data.login, auth_data.password, session.ssl is not None))
        ok = (auth_data.login, auth_data.password) == (b"portal", b"s3cret")
        return AuthResult(success=ok, handled=False)  # aiosmtpd then answers 535 itself

    server = SmtpSink(
        tls_context=server_context,
        require_starttls=True,
        authenticator=authenticator,
        auth_require_tls=True,
    ).start()
    try:
        message = make_message()
        client_context = ssl.create_default_context(cafile=str(cert))
        transport = smtp_to(
            server,
            starttls=True,
            username="portal",
            password="s3cret",
            ssl_context=client_context,
        )
        assert deliver_due(AS_OF, transport=transport).sent == 1
        wrong = make_message()
        refused = smtp_to(
            server, starttls=True, username="portal", password="nope", ssl_context=client_context
        )
        assert deliver_due(AS_OF, transport=refused).retrying == 1
    finally:
        server.stop()
    assert [r.message_id for r in server.handler.received] == [message.message_id]
    assert logins[0][1:] == (b"portal", b"s3cret", True)
    assert "535" in reload(wrong).last_error


def test_a_header_that_cannot_be_built_fails_only_its_message(db, sink):
    broken = make_message(subject="Line one\r\nBcc: everyone@mail.example.com")
    fine = make_message()
    report = deliver_due(AS_OF, transport=smtp_to(sink))
    assert (report.sent, report.failed) == (1, 1)
    assert reload(broken).last_error.startswith("cannot build the email")
    assert [r.message_id for r in sink.handler.received] == [fine.message_id]


def test_a_notice_to_someone_not_a_customer_arrives_threaded_with_its_headers(db, sink):
    thread = {
        "In-Reply-To": "<question-1@mail.example.com>",
        "References": "<first@mail.example.com> <question-1@mail.example.com>",
        "Auto-Submitted": "auto-replied",
    }
    services.queue(
        [
            services.Draft(
                dedupe_key="ticket:1:ack",
                customer_id=None,
                to_address="complainant@mail.example.com",
                recipient_name="Sam",
                locale="en",
                purpose="service",
                kind="notice",
                template_key="notice",
                send_at=AS_OF,
                transactional=True,
                headers=thread,
                message_id="<ticket-1-ack@portal.test>",
            )
        ],
        now=AS_OF,
    )
    _db.session.commit()

    assert deliver_due(AS_OF, transport=smtp_to(sink)).sent == 1

    (received,) = sink.handler.received
    assert received.rcpt_tos == ("complainant@mail.example.com",)
    assert received.message_id == "<ticket-1-ack@portal.test>"
    parsed = email.message_from_bytes(received.content, policy=policy.default)
    for name, value in thread.items():
        assert " ".join(parsed[name].split()) == value
    assert "List-Unsubscribe" not in parsed
    assert parsed.get_body(("plain",)).get_content().startswith("Dear Sam,")
    sent = _db.session.scalars(select(Message).where(Message.dedupe_key == "ticket:1:ack")).one()
    assert (sent.status, sent.headers) == ("sent", thread)


def test_an_invalid_address_of_someone_not_a_customer_is_held_back_at_delivery(db, sink):
    services.queue(
        [
            services.Draft(
                dedupe_key="ticket:2:ack",
                customer_id=None,
                to_address="not an address",
                purpose="service",
                kind="notice",
                template_key="notice",
                send_at=AS_OF,
                transactional=True,
            )
        ],
        now=AS_OF,
    )
    _db.session.commit()
    assert deliver_due(AS_OF, transport=smtp_to(sink)).suppressed == 1
    held = _db.session.scalars(select(Message).where(Message.dedupe_key == "ticket:2:ack")).one()
    assert held.status == "suppressed" and held.held_reason.startswith("invalid address: ")
    assert sink.handler.received == []


def test_a_template_that_fails_at_delivery_fails_only_its_message(db, sink):
    """An admin's template changed since queueing so that it no longer renders (stored here
    behind the editor's back): that message fails with the reason, the batch goes on."""
    from portal.messaging.models import MessageTemplate

    english = make_customer(locale="en", consent_care=True)
    chinese = make_customer(locale="zh_Hans", consent_care=True)
    services.queue(
        [
            services.Draft(
                dedupe_key=f"birthday:{customer.id}",
                customer_id=customer.id,
                purpose="care",
                kind="birthday",
                template_key="birthday",
                send_at=AS_OF,
            )
            for customer in (english, chinese)
        ],
        now=AS_OF,
    )
    _db.session.add(
        MessageTemplate(
            key="birthday",
            locale="en",
            subject="Hello {{ nickname }}",
            body_text="Hi",
            body_html="<p>Hi</p>",
        )
    )
    _db.session.commit()

    report = deliver_due(AS_OF, transport=smtp_to(sink))

    assert (report.sent, report.failed) == (1, 1)
    failed = _db.session.scalars(select(Message).where(Message.customer_id == english.id)).one()
    assert (failed.status, failed.attempts) == ("failed", 1)
    assert failed.last_error == ("cannot render the template birthday/en: 'nickname' is undefined")
    assert failed.subject == ""  # nothing was sent, so nothing is on record as sent
    assert _db.session.scalar(select(func.count()).select_from(Suppression)) == 0
    (received,) = sink.handler.received
    assert received.rcpt_tos == (chinese.email,)


def test_worker_names_fit_the_column():
    assert len(delivery.worker_name()) <= 80


def test_consent_withdrawn_after_queueing_holds_the_message_back(app, db, tmp_path, monkeypatch):
    """Staff turn consent off on the customer's page after a greeting was queued: delivery
    re-reads the customer and sends nothing."""
    from portal.customers.models import Customer
    from portal.messaging.jobs import deliver

    customer = make_customer(consent_care=True)
    services.queue(
        [
            services.Draft(
                dedupe_key=f"birthday:{customer.id}:2026",
                customer_id=customer.id,
                purpose="care",
                kind="birthday",
                template_key="birthday",
                send_at=datetime(2026, 12, 1, 4, 0, tzinfo=UTC),
            )
        ],
        now=datetime(2026, 12, 1, 4, 0, tzinfo=UTC),
    )
    _db.session.get(Customer, customer.id).consent_care = False
    _db.session.commit()
    monkeypatch.setitem(app.config, "MAIL_TRANSPORT", "file")
    monkeypatch.setitem(app.config, "MAIL_DIR", str(tmp_path))
    deliver(datetime(2026, 12, 1, 5, 0, tzinfo=UTC))
    message = _db.session.scalars(select(Message).where(Message.customer_id == customer.id)).one()
    assert message.status == "suppressed"
    assert message.held_reason == "no consent for care messages (withdrawn since queued)"
    assert not list(tmp_path.rglob("*.eml"))
