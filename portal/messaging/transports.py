"""Transports: how a built email leaves the portal.

`smtp` (one reused connection, STARTTLS and login when configured) and `file`
(`<MAIL_DIR>/<YYYY-MM-DD>/<id>.eml`, the embedded default). A transport raises SendFailure
saying what a failure means: temporary (4xx replies, refused or lost connections, timeouts:
the worker retries), permanent (a 5xx reply to the recipient or the data: the message fails),
whether the address is to be suppressed, and whether no connection could be made at all.
"""

import os
import smtplib
import ssl
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Protocol


@dataclass(frozen=True)
class Envelope:
    sender: str
    recipient: str
    key: int  # the outbox row id
    at: datetime


class SendFailure(Exception):
    """A message the transport could not hand over, and what that means for it.

    `connection_failed`: no connection could be made, so the rest of the batch would fail too.
    """

    def __init__(
        self,
        reason: str,
        *,
        permanent: bool = False,
        suppress: bool = False,
        connection_failed: bool = False,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent
        self.suppress = suppress
        self.connection_failed = connection_failed


class Transport(Protocol):
    def send(self, message: EmailMessage, envelope: Envelope) -> None: ...

    def close(self) -> None: ...


def _text(raw: bytes | str) -> str:
    return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)


def _refusal(stage: str, code: int, text: bytes | str) -> SendFailure:
    """A reply to RCPT or DATA: 5xx fails the message and suppresses the address, else retry."""
    reason = f"{code} {_text(text)} ({stage})"
    if 500 <= code < 600:
        return SendFailure(reason, permanent=True, suppress=True)
    return SendFailure(reason)


class SmtpTransport:
    """One SMTP connection, opened on first use and reused until it fails or is closed."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        starttls: bool = False,
        username: str | None = None,
        password: str | None = None,
        timeout: float = 10.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.host, self.port, self.timeout = host, port, timeout
        self.starttls, self.username, self.password = starttls, username, password
        self.ssl_context = ssl_context
        self.connections = 0  # how many were opened, for the tests and the benchmark
        self._smtp: smtplib.SMTP | None = None

    def _open(self) -> smtplib.SMTP:
        where = f"{self.host}:{self.port}"
        try:
            smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        except smtplib.SMTPResponseException as error:  # e.g. 421 in the greeting
            raise SendFailure(
                f"{where} refused the session: {error.smtp_code} {_text(error.smtp_error)}",
                connection_failed=True,
            ) from error
        except (smtplib.SMTPException, OSError) as error:
            raise SendFailure(
                f"cannot connect to {where}: {error}", connection_failed=True
            ) from error
        try:
            if self.starttls:
                smtp.starttls(context=self.ssl_context or ssl.create_default_context())
            if self.username:
                smtp.login(self.username, self.password or "")
        except smtplib.SMTPResponseException as error:
            smtp.close()
            raise SendFailure(
                f"{where}: {error.smtp_code} {_text(error.smtp_error)} (STARTTLS/login)",
                connection_failed=True,
            ) from error
        except (smtplib.SMTPException, OSError) as error:
            smtp.close()
            raise SendFailure(
                f"{where}: STARTTLS/login: {error}", connection_failed=True
            ) from error
        self.connections += 1
        return smtp

    def send(self, message: EmailMessage, envelope: Envelope) -> None:
        if self._smtp is None:
            self._smtp = self._open()
        smtp = self._smtp
        try:
            smtp.send_message(message, from_addr=envelope.sender, to_addrs=[envelope.recipient])
        except smtplib.SMTPRecipientsRefused as error:
            code, text = next(iter(error.recipients.values()))
            raise _refusal("RCPT", code, text) from None
        except smtplib.SMTPSenderRefused as error:
            # Our own address was refused: a configuration matter, not the recipient's, so
            # the message waits for it to be fixed instead of failing.
            raise SendFailure(
                f"sender refused: {error.smtp_code} {_text(error.smtp_error)} (MAIL)"
            ) from None
        except smtplib.SMTPDataError as error:
            raise _refusal("DATA", error.smtp_code, error.smtp_error) from None
        except smtplib.SMTPNotSupportedError as error:  # e.g. a non-ASCII mailbox, no SMTPUTF8
            raise SendFailure(f"not supported by the server: {error}", permanent=True) from None
        except smtplib.SMTPResponseException as error:  # e.g. to EHLO: not the recipient's doing
            self._drop()
            raise SendFailure(f"{error.smtp_code} {_text(error.smtp_error)}") from None
        except (smtplib.SMTPException, OSError) as error:
            self._drop()
            raise SendFailure(f"connection lost: {error or type(error).__name__}") from None
        finally:
            if self._smtp is not None and self._smtp.sock is None:  # smtplib closed it (421)
                self._smtp = None

    def _drop(self) -> None:
        if self._smtp is not None:
            self._smtp.close()
            self._smtp = None

    def close(self) -> None:
        if self._smtp is None:
            return
        try:
            self._smtp.quit()
        except (smtplib.SMTPException, OSError):
            pass
        finally:
            self._drop()


class FileTransport:
    """Writes `<directory>/<YYYY-MM-DD>/<id>.eml`; a re-sent message replaces its own file."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)

    def send(self, message: EmailMessage, envelope: Envelope) -> None:
        folder = self.directory / envelope.at.strftime("%Y-%m-%d")
        target = folder / f"{envelope.key}.eml"
        temporary: str | None = None
        try:
            folder.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(dir=folder, prefix=f".{envelope.key}.")
            with os.fdopen(handle, "wb") as file:
                file.write(message.as_bytes())
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, target)  # readers see the whole file or none
        except OSError as error:
            if temporary:
                Path(temporary).unlink(missing_ok=True)
            raise SendFailure(f"cannot write {target}: {error}") from error

    def close(self) -> None:
        pass


def transport_from_config(config: Mapping[str, Any]) -> Transport:
    if config.get("MAIL_TRANSPORT", "file") == "smtp":
        return SmtpTransport(
            config["SMTP_HOST"],
            int(config["SMTP_PORT"]),
            starttls=bool(config.get("SMTP_STARTTLS")),
            username=config.get("SMTP_USERNAME"),
            password=config.get("SMTP_PASSWORD"),
            timeout=float(config.get("SMTP_TIMEOUT", 10.0)),
        )
    return FileTransport(config["MAIL_DIR"])
