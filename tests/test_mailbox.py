"""The inbound mailbox, against a real Dovecot: TLS both ways, oldest first in batches, moved
once handled, failures left for later, errors in one line without secrets, bytes kept whole."""

import base64
import imaplib
import os
import socket
import threading
from pathlib import Path
from typing import Any

import pytest

from portal.core.config import ConfigError, Settings
from portal.tickets.channels.mailbox import (
    FetchedMail,
    ImapSettings,
    Mailbox,
    MailboxError,
    PollResult,
    poll,
)
from tests.support.dovecot import Dovecot, make_certificate
from tests.support.live_server import free_port


@pytest.fixture
def imap(dovecot: Dovecot) -> Dovecot:
    """The session's Dovecot with an empty INBOX and no other folder."""
    dovecot.reset()
    return dovecot


def settings_for(server: Dovecot, security: str = "ssl", **overrides: Any) -> ImapSettings:
    config: dict[str, Any] = {
        "IMAP_HOST": server.host,
        "IMAP_PORT": server.imaps_port if security == "ssl" else server.imap_port,
        "IMAP_SECURITY": security,
        "IMAP_USER": server.user,
        "IMAP_PASSWORD": server.password,
        "IMAP_CA_FILE": str(server.ca_file),
        "IMAP_TIMEOUT": 10,
    }
    config.update(overrides)
    settings = ImapSettings.from_config(config)
    assert settings is not None
    return settings


def make_mail(
    subject: str,
    body: bytes = b"My card was charged the annual fee twice.",
    content_type: bytes = b"text/plain; charset=utf-8",
    encoding: bytes = b"7bit",
) -> bytes:
    """A raw message with CRLF line ends, as mail is on the wire and as IMAP APPEND sends it."""
    header = f"From: Wang Fang <wang.fang@mail.example.com>\r\nSubject: {subject}\r\n".encode()
    return (
        header
        + b"To: complaints@bank.example.com\r\n"
        + b"Message-ID: <" + subject.replace(" ", ".").encode() + b"@mail.example.com>\r\n"
        + b"MIME-Version: 1.0\r\nContent-Type: " + content_type + b"\r\n"
        + b"Content-Transfer-Encoding: " + encoding + b"\r\n\r\n"
        + body + b"\r\n"
    )  # fmt: skip


def test_settings_come_from_the_imap_keys_with_defaults_per_security() -> None:
    assert ImapSettings.from_config({"IMAP_HOST": ""}) is None
    assert ImapSettings.from_config(Settings.from_env({}).to_flask()) is None

    config = Settings.from_env(
        {"IMAP_HOST": "imap.bank.example", "IMAP_USER": "complaints", "IMAP_PASSWORD": "pw-1"}
    ).to_flask()
    imaps = ImapSettings.from_config(config)
    assert imaps == ImapSettings(
        host="imap.bank.example",
        port=993,
        security="ssl",
        user="complaints",
        password="pw-1",
        folder="INBOX",
        processed_folder="Processed",
        batch=50,
        timeout=30.0,
        ca_file=None,
    )
    assert "pw-1" not in repr(imaps)
    starttls = ImapSettings.from_config({**config, "IMAP_SECURITY": "starttls"})
    assert starttls is not None and starttls.port == 143


@pytest.mark.parametrize("security", ["plain", "tls", "none"])
def test_anything_but_ssl_or_starttls_is_a_configuration_error(security: str) -> None:
    with pytest.raises(ConfigError, match="IMAP_SECURITY must be one of ssl, starttls"):
        Settings.from_env({"IMAP_SECURITY": security}).to_flask()
    config = {"IMAP_HOST": "imap.bank.example", "IMAP_USER": "u", "IMAP_PASSWORD": "p"}
    with pytest.raises(ConfigError, match="IMAP_SECURITY must be one of ssl, starttls"):
        ImapSettings.from_config({**config, "IMAP_SECURITY": security})


@pytest.mark.parametrize("security", ["ssl", "starttls"])
def test_messages_are_fetched_over_imaps_and_starttls_without_being_marked_seen(
    imap: Dovecot, security: str
) -> None:
    first, second = make_mail("first complaint"), make_mail("second complaint")
    uids = [imap.append(first), imap.append(second)]

    with Mailbox(settings_for(imap, security)) as mailbox:
        assert mailbox.fetch() == [FetchedMail(uids[0], first), FetchedMail(uids[1], second)]

    connection = imap.connect()
    try:
        connection.select("INBOX", readonly=True)
        _, flags = connection.uid("FETCH", "1:*", "(FLAGS)")
    finally:
        connection.logout()
    assert all(b"\\Seen" not in line for line in flags), flags


def test_the_test_server_refuses_to_log_in_before_starttls(imap: Dovecot) -> None:
    plain = imaplib.IMAP4(imap.host, imap.imap_port, timeout=10)
    try:
        assert "LOGINDISABLED" in plain.capabilities
        with pytest.raises(imaplib.IMAP4.error, match="Plaintext authentication disallowed"):
            plain.login(imap.user, imap.password)
    finally:
        plain.shutdown()


def test_messages_come_oldest_first_and_batches_are_honoured(imap: Dovecot) -> None:
    raws = [make_mail(f"complaint {n}") for n in range(5)]
    for raw in raws:
        imap.append(raw)

    with Mailbox(settings_for(imap, IMAP_BATCH=2)) as mailbox:
        assert [mail.raw for mail in mailbox.fetch()] == raws[:2]
        assert [mail.raw for mail in mailbox.fetch(limit=4)] == raws[:4]

    handled: list[bytes] = []
    assert poll(settings_for(imap, IMAP_BATCH=2), handled.append, limit=3) == PollResult(3, 3, 0)
    assert poll(settings_for(imap, IMAP_BATCH=2), handled.append) == PollResult(2, 2, 0)
    assert handled == raws


def test_poll_moves_handled_mail_to_processed_created_on_first_use(imap: Dovecot) -> None:
    raws = [make_mail("first complaint"), make_mail("second complaint")]
    for raw in raws:
        imap.append(raw)
    assert imap.folders() == {"INBOX"}
    handled: list[bytes] = []

    assert poll(settings_for(imap), handled.append) == PollResult(fetched=2, done=2, failed=0)
    assert poll(settings_for(imap), handled.append) == PollResult(fetched=0, done=0, failed=0)

    assert handled == raws
    assert imap.folders() == {"INBOX", "Processed"}
    assert imap.messages("INBOX") == []
    assert imap.messages("Processed") == raws


@pytest.mark.parametrize(
    "withheld",
    [set(), {"MOVE"}, {"MOVE", "UIDPLUS"}],
    ids=["uid-move", "uidplus-copy-expunge", "copy-plain-expunge"],
)
def test_a_done_message_is_never_fetched_again_whichever_way_it_is_moved(
    imap: Dovecot, withheld: set[str]
) -> None:
    first, second = make_mail("first complaint"), make_mail("second complaint")
    imap.append(first)
    second_uid = imap.append(second)

    with Mailbox(settings_for(imap)) as mailbox:
        assert withheld <= mailbox.capabilities  # Dovecot offers every way
        mailbox.capabilities -= withheld
        fetched = mailbox.fetch()
        mailbox.done(fetched[0].uid)
        assert mailbox.fetch() == [FetchedMail(second_uid, second)]

    with Mailbox(settings_for(imap)) as mailbox:
        assert mailbox.fetch() == [FetchedMail(second_uid, second)]
    assert imap.messages("Processed") == [first]


def test_a_message_whose_handler_fails_stays_and_the_others_go_on(
    imap: Dovecot, caplog: pytest.LogCaptureFixture
) -> None:
    first, failing, third = (make_mail(f"complaint {n}") for n in ("one", "two", "three"))
    imap.append(first)
    failing_uid = imap.append(failing)
    imap.append(third)
    handled: list[bytes] = []

    def handle(raw: bytes) -> None:
        if raw == failing:
            raise RuntimeError("the database is unavailable")
        handled.append(raw)

    assert poll(settings_for(imap), handle) == PollResult(fetched=3, done=2, failed=1)
    assert handled == [first, third]
    assert imap.messages("INBOX") == [failing]
    assert imap.messages("Processed") == [first, third]
    assert f"handling message {failing_uid} failed; it stays in INBOX" in caplog.text

    assert poll(settings_for(imap), handled.append) == PollResult(fetched=1, done=1, failed=0)
    assert imap.messages("Processed") == [first, third, failing]


def test_a_stopped_poll_ends_after_the_message_in_hand_and_leaves_the_rest(
    imap: Dovecot,
) -> None:
    raws = [make_mail(f"complaint {n}") for n in ("one", "two", "three")]
    for raw in raws:
        imap.append(raw)
    stop = threading.Event()
    handled: list[bytes] = []

    def handle_then_stop(raw: bytes) -> None:
        handled.append(raw)
        stop.set()  # SIGTERM arrives while the first message is handled

    assert poll(settings_for(imap), handle_then_stop, stop=stop) == PollResult(1, 1, 0)
    assert imap.messages("Processed") == raws[:1]
    assert imap.messages("INBOX") == raws[1:]
    assert poll(settings_for(imap), handled.append) == PollResult(2, 2, 0)
    assert handled == raws


def test_a_wrong_password_fails_in_one_line_that_does_not_show_it(imap: Dovecot) -> None:
    with (
        pytest.raises(MailboxError) as failure,
        Mailbox(settings_for(imap, IMAP_PASSWORD="wrong-Secret-9")),
    ):
        pass
    message = str(failure.value)
    assert f"login as {imap.user} failed" in message
    assert "AUTHENTICATIONFAILED" in message
    assert "wrong-Secret-9" not in message and imap.password not in message
    assert "\n" not in message


@pytest.mark.parametrize("security", ["ssl", "starttls"])
def test_a_certificate_from_another_ca_is_refused(
    imap: Dovecot, security: str, tmp_path: Path
) -> None:
    other_ca, _ = make_certificate(tmp_path, "other")
    settings = settings_for(imap, security, IMAP_CA_FILE=str(other_ca))
    with (
        pytest.raises(MailboxError, match="TLS certificate verification failed"),
        Mailbox(settings),
    ):
        pass


def test_without_a_ca_file_the_system_cas_are_used_and_refuse_the_test_certificate(
    imap: Dovecot,
) -> None:
    with (
        pytest.raises(MailboxError, match="certificate verification failed"),
        Mailbox(settings_for(imap, IMAP_CA_FILE="")),
    ):
        pass


def test_a_closed_port_fails_as_connection_refused(imap: Dovecot) -> None:
    settings = settings_for(imap, IMAP_PORT=free_port(imap.host))
    with pytest.raises(MailboxError, match="cannot connect: Connection refused"), Mailbox(settings):
        pass


def test_a_server_that_never_answers_fails_after_the_timeout() -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()  # connections complete in the backlog, and nothing is ever said
        settings = ImapSettings.from_config(
            {
                "IMAP_HOST": "127.0.0.1",
                "IMAP_PORT": silent.getsockname()[1],
                "IMAP_USER": "complaints",
                "IMAP_PASSWORD": "pw-1",
                "IMAP_TIMEOUT": 0.5,
            }
        )
        assert settings is not None
        with (
            pytest.raises(MailboxError, match=r"cannot connect: no answer within 0\.5 s"),
            Mailbox(settings),
        ):
            pass


def test_a_ca_file_that_cannot_be_read_is_named_in_the_error(tmp_path: Path) -> None:
    missing = tmp_path / "private-ca.pem"
    settings = ImapSettings.from_config(
        {
            "IMAP_HOST": "127.0.0.1",
            "IMAP_USER": "complaints",
            "IMAP_PASSWORD": "pw-1",
            "IMAP_CA_FILE": str(missing),
        }
    )
    assert settings is not None
    with pytest.raises(MailboxError, match=f"cannot use IMAP_CA_FILE {missing}"), Mailbox(settings):
        pass


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        ({"IMAP_PASSWORD": ""}, "IMAP_USER and IMAP_PASSWORD must be set"),
        ({"IMAP_PROCESSED_FOLDER": "INBOX"}, "IMAP_PROCESSED_FOLDER must differ"),
        ({"IMAP_PROCESSED_FOLDER": "已处理"}, "modified UTF-7"),
        ({"IMAP_PORT": 0}, "IMAP_PORT 0 is not a TCP port"),
        ({"IMAP_BATCH": "many"}, "IMAP_BATCH must be a number"),
    ],
)
def test_settings_that_cannot_work_are_configuration_errors(
    overrides: dict[str, Any], problem: str
) -> None:
    config = {"IMAP_HOST": "imap.bank.example", "IMAP_USER": "u", "IMAP_PASSWORD": "p"}
    with pytest.raises(ConfigError, match=problem):
        ImapSettings.from_config({**config, **overrides})


def test_a_missing_folder_is_an_error(imap: Dovecot) -> None:
    settings = settings_for(imap, IMAP_FOLDER="Complaints")
    with pytest.raises(MailboxError, match="cannot select folder 'Complaints'"), Mailbox(settings):
        pass


def test_a_20_mb_message_is_fetched_whole(imap: Dovecot) -> None:
    attachment = base64.encodebytes(os.urandom(15 * 1024 * 1024)).replace(b"\n", b"\r\n")
    raw = make_mail(
        "statement attached", attachment.rstrip(), b"application/pdf", encoding=b"base64"
    )
    assert len(raw) > 20 * 1024 * 1024
    imap.append(raw)
    handled: list[bytes] = []

    assert poll(settings_for(imap), handled.append) == PollResult(1, 1, 0)
    assert len(handled[0]) == len(raw)
    assert handled == [raw]


def test_8_bit_gbk_bytes_come_back_byte_for_byte(imap: Dovecot) -> None:
    body = "您好：我的信用卡年费被重复扣收，请退还多收的款项。".encode("gbk")
    with pytest.raises(UnicodeDecodeError):
        body.decode("utf-8")
    raw = make_mail("gbk complaint", body, b"text/plain; charset=gbk", encoding=b"8bit")
    raw = raw.replace(b"Subject: gbk complaint", b"Subject: " + "年费投诉".encode("gbk"))
    imap.append(raw)

    with Mailbox(settings_for(imap, "starttls")) as mailbox:
        assert [mail.raw for mail in mailbox.fetch()] == [raw]
