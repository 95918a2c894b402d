"""The IMAP mailbox that inbound complaint email is fetched from (stdlib `imaplib`).

Messages are read oldest first with `BODY.PEEK[]`, so reading alone changes nothing on the
server; a message is moved to the processed folder only after it has been handled, so the
folder itself is the queue of what is still to do. TLS is always used (IMAPS or STARTTLS) and
the server's certificate and host name are always checked, against `IMAP_CA_FILE` when set or
the system's CAs otherwise.
"""

import imaplib
import logging
import re
import ssl
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

from portal.core.config import IMAP_SECURITY_MODES, ConfigError

log = logging.getLogger("portal.tickets.mailbox")

DEFAULT_PORTS = {"ssl": 993, "starttls": 143}
UID_IN_FETCH = re.compile(rb"\bUID (\d+)")


class MailboxError(RuntimeError):
    """The mailbox could not be reached or used; the message is one line, without secrets."""


@dataclass(frozen=True)
class ImapSettings:
    """Where inbound mail is fetched from and where handled mail goes (README: IMAP_*)."""

    host: str
    port: int
    security: str  # one of IMAP_SECURITY_MODES
    user: str
    password: str = field(repr=False)
    folder: str = "INBOX"
    processed_folder: str = "Processed"
    batch: int = 50
    timeout: float = 30.0
    ca_file: str | None = None

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "ImapSettings | None":
        """The settings in the app's IMAP_* keys; None when IMAP_HOST is empty (no polling)."""
        host = str(config.get("IMAP_HOST") or "").strip()
        if not host:
            return None
        security = str(config.get("IMAP_SECURITY") or "ssl").strip().lower()
        if security not in IMAP_SECURITY_MODES:
            raise ConfigError(
                f"IMAP_SECURITY must be one of {', '.join(IMAP_SECURITY_MODES)}, not {security!r}"
            )
        user, password = config.get("IMAP_USER"), config.get("IMAP_PASSWORD")
        if not user or not password:
            raise ConfigError("IMAP_USER and IMAP_PASSWORD must be set when IMAP_HOST is")
        settings = cls(
            host=host,
            port=_number(config, "IMAP_PORT", DEFAULT_PORTS[security]),
            security=security,
            user=str(user),
            password=str(password),
            folder=str(config.get("IMAP_FOLDER") or "INBOX"),
            processed_folder=str(config.get("IMAP_PROCESSED_FOLDER") or "Processed"),
            batch=_number(config, "IMAP_BATCH", 50),
            timeout=_number(config, "IMAP_TIMEOUT", 30.0, float),
            ca_file=str(config["IMAP_CA_FILE"]) if config.get("IMAP_CA_FILE") else None,
        )
        if not 0 < settings.port < 65536:
            raise ConfigError(f"IMAP_PORT {settings.port} is not a TCP port")
        if settings.batch < 1 or settings.timeout <= 0:
            raise ConfigError("IMAP_BATCH and IMAP_TIMEOUT must be more than 0")
        for name, folder in (
            ("IMAP_FOLDER", settings.folder),
            ("IMAP_PROCESSED_FOLDER", settings.processed_folder),
        ):
            if not folder.isascii():
                raise ConfigError(
                    f"{name} must be given as IMAP spells it on the wire (modified UTF-7, "
                    f"e.g. &XfJT0ZAB- for 已处理), not {folder!r}"
                )
        if settings.folder == settings.processed_folder:
            raise ConfigError("IMAP_PROCESSED_FOLDER must differ from IMAP_FOLDER")
        return settings

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


def _number(config: Mapping[str, Any], key: str, default: Any, kind: type = int) -> Any:
    value = config.get(key)
    if value is None or value == "":
        return default
    try:
        return kind(value)
    except (TypeError, ValueError) as error:
        raise ConfigError(f"{key} must be a number, not {value!r}") from error


@dataclass(frozen=True)
class FetchedMail:
    uid: int
    raw: bytes


@dataclass(frozen=True)
class PollResult:
    fetched: int
    done: int
    failed: int


def _quoted(folder: str) -> str:
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


class Mailbox:
    """One logged-in IMAP session on the configured folder, logged out on leaving the block.

    `capabilities` is what the server announced after login; `done` picks how to move a
    message by it.
    """

    def __init__(self, settings: ImapSettings) -> None:
        self.settings = settings
        self.capabilities: frozenset[str] = frozenset()
        self._imap: imaplib.IMAP4 | None = None
        self._processed_folder_exists = False

    def __enter__(self) -> "Mailbox":
        settings = self.settings
        try:
            with self._failing("cannot connect"):
                self._imap = self._connect()
            with self._failing(f"login as {settings.user} failed"):
                self._imap.login(settings.user, settings.password)
            # The capabilities announced before login lack what is offered only after it
            # (MOVE, UIDPLUS on Dovecot), so they are asked again.
            capabilities = self._call("CAPABILITY failed", "capability")
            self.capabilities = frozenset(_text(capabilities[-1]).upper().split())
            with self._failing(f"cannot select folder {settings.folder!r}"):
                status, data = self._imap.select(_quoted(settings.folder))
            if status != "OK":
                raise self._error(f"cannot select folder {settings.folder!r}", data[-1])
        except BaseException:
            self._close()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._close()

    def pending(self, limit: int | None = None) -> list[int]:
        """UIDs of up to `limit` (default: the batch size) messages to handle, oldest first
        (in the order they arrived in the folder, which is the order of their UIDs)."""
        found = self._uid("searching the folder failed", "SEARCH", "UNDELETED")
        uids = sorted(int(uid) for uid in _text(found[0] or b"").split())
        return uids[: self.settings.batch if limit is None else limit]

    def read(self, uid: int) -> FetchedMail | None:
        """The message with this UID, whole and byte for byte; None if it has gone meanwhile.

        Reading does not mark it seen.
        """
        parts = self._uid(f"fetching message {uid} failed", "FETCH", str(uid), "(BODY.PEEK[])")
        for part in parts:
            if not isinstance(part, tuple) or b"BODY[]" not in part[0]:
                continue
            named = UID_IN_FETCH.search(part[0])
            if named is None or int(named.group(1)) == uid:
                return FetchedMail(uid, part[1])
        return None

    def fetch(self, limit: int | None = None) -> list[FetchedMail]:
        """Up to `limit` (default: the batch size) messages not yet done, oldest first."""
        mails = (self.read(uid) for uid in self.pending(limit))
        return [mail for mail in mails if mail is not None]

    def done(self, uid: int) -> None:
        """Move the message to the processed folder, so that it is never fetched again."""
        target = _quoted(self.settings.processed_folder)
        self._ensure_processed_folder()
        if "MOVE" in self.capabilities:
            self._uid(f"moving message {uid} failed", "MOVE", str(uid), target)
            return
        self._uid(f"copying message {uid} failed", "COPY", str(uid), target)
        self._uid(
            f"flagging message {uid} deleted failed",
            "STORE",
            str(uid),
            "+FLAGS.SILENT",
            r"(\Deleted)",
        )
        if "UIDPLUS" in self.capabilities:
            self._uid(f"expunging message {uid} failed", "EXPUNGE", str(uid))
        else:
            # Without UIDPLUS only a plain EXPUNGE exists: it also removes any other message
            # someone marked deleted in this folder.
            self._call(f"expunging message {uid} failed", "expunge")

    def _ensure_processed_folder(self) -> None:
        if self._processed_folder_exists:
            return
        folder = self.settings.processed_folder
        if not self._listed(folder):
            with self._failing(f"cannot create folder {folder!r}"):
                status, data = self._client.create(_quoted(folder))
            # Another poller may have created it a moment ago; only its absence is an error.
            if status != "OK" and not self._listed(folder):
                raise self._error(f"cannot create folder {folder!r}", data[-1])
            with self._failing(f"cannot subscribe to folder {folder!r}"):
                self._client.subscribe(_quoted(folder))
        self._processed_folder_exists = True

    def _listed(self, folder: str) -> bool:
        listed = self._call(f"listing folder {folder!r} failed", "list", '""', _quoted(folder))
        return any(listed)

    @property
    def _client(self) -> imaplib.IMAP4:
        if self._imap is None:
            raise MailboxError("the mailbox is used outside its `with` block")
        return self._imap

    def _connect(self) -> imaplib.IMAP4:
        settings = self.settings
        try:
            context = ssl.create_default_context(cafile=settings.ca_file)
        except OSError as error:  # ssl.SSLError too: a file that holds no certificate
            detail = getattr(error, "reason", None) or error.strerror or error
            raise self._error(f"cannot use IMAP_CA_FILE {settings.ca_file}", detail) from error
        if settings.security == "ssl":
            return imaplib.IMAP4_SSL(
                settings.host, settings.port, ssl_context=context, timeout=settings.timeout
            )
        imap = imaplib.IMAP4(settings.host, settings.port, timeout=settings.timeout)
        try:
            imap.starttls(ssl_context=context)
        except BaseException:
            with suppress(OSError):
                imap.shutdown()
            raise
        return imap

    def _call(self, failure: str, method: str, *args: str) -> list[Any]:
        """The data of an imaplib command that must answer OK."""
        with self._failing(failure):
            status, data = getattr(self._client, method)(*args)
        if status != "OK":
            raise self._error(failure, data[-1] if data else status)
        return data

    def _uid(self, failure: str, command: str, *args: str) -> list[Any]:
        return self._call(failure, "uid", command, *args)

    @contextmanager
    def _failing(self, failure: str) -> Iterator[None]:
        try:
            yield
        except ssl.SSLCertVerificationError as error:
            raise self._error(
                failure, f"TLS certificate verification failed: {error.verify_message}"
            ) from error
        except TimeoutError as error:
            raise self._error(failure, f"no answer within {self.settings.timeout:g} s") from error
        except ssl.SSLError as error:
            raise self._error(failure, f"TLS failed: {error.reason or error}") from error
        except OSError as error:
            raise self._error(failure, error.strerror or error) from error
        except imaplib.IMAP4.error as error:
            raise self._error(failure, error.args[0] if error.args else error) from error

    def _error(self, failure: str, detail: Any) -> MailboxError:
        message = " ".join(f"IMAP {self.settings.address}: {failure}: {_text(detail)}".split())
        if self.settings.password:
            message = message.replace(self.settings.password, "********")
        return MailboxError(message)

    def _close(self) -> None:
        imap, self._imap = self._imap, None
        if imap is None:
            return
        try:
            imap.logout()
        except (imaplib.IMAP4.error, OSError):
            with suppress(OSError):
                imap.shutdown()


def poll(
    settings: ImapSettings,
    handle: Callable[[bytes], object],
    limit: int | None = None,
    stop: threading.Event | None = None,
) -> PollResult:
    """Hand each pending message (up to `limit`, default the batch size) to `handle`, oldest
    first, and move it to the processed folder once `handle` has returned. Setting `stop`
    ends the poll after the message in hand; the others wait in the folder for the next one.

    A message whose `handle` raises stays in the folder — logged and counted as failed — and
    is offered again at the next poll; the others carry on. `handle` must therefore be
    idempotent (the ticket ingest deduplicates by Message-ID): a crash or a lost connection
    after `handle` but before the move only means the message is handled again next time,
    never lost. A message that makes `handle` fail every time takes a place in every batch, so
    `handle` should keep what it cannot read (quarantine) rather than raise for it.

    Messages are read one at a time, so that a batch of large ones never sits in memory
    together. Connection, TLS, login and folder problems raise `MailboxError`.
    """
    fetched = done = failed = 0
    with Mailbox(settings) as mailbox:
        for uid in mailbox.pending(limit):
            if stop is not None and stop.is_set():
                break
            mail = mailbox.read(uid)
            if mail is None:
                continue  # moved away meanwhile, e.g. by an admin
            fetched += 1
            try:
                handle(mail.raw)
            except Exception:
                failed += 1
                log.exception(
                    "IMAP %s: handling message %d failed; it stays in %s for the next poll",
                    settings.address,
                    uid,
                    settings.folder,
                )
                continue
            mailbox.done(uid)
            done += 1
    return PollResult(fetched=fetched, done=done, failed=failed)
