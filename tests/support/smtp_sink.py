"""A real SMTP server for delivery tests (aiosmtpd in a thread), scriptable to misbehave.

It records every message it accepts with its envelope and Message-ID. Scripted replies: a
queue per stage ("RCPT", "DATA") answered to the next commands of that stage before normal
service resumes ("drop" closes the connection instead of answering), permanent refusals per
address, a pause before accepting the n-th message, a delay before accepting each message (a
slow relay), and stop/start on the same port for the time it refuses connections.
"""

import asyncio
import threading
from collections import Counter, deque
from dataclasses import dataclass
from email.parser import BytesHeaderParser
from typing import Any

from aiosmtpd.controller import Controller

from tests.support.live_server import free_port

DROP = "drop"


@dataclass(frozen=True)
class Received:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    message_id: str
    content: bytes


class ScriptedHandler:
    def __init__(self) -> None:
        self.received: list[Received] = []
        self.replies: dict[str, deque[str]] = {"RCPT": deque(), "DATA": deque()}
        self.refuse: dict[str, str] = {}  # address → permanent reply to RCPT
        self.hold_at: int | None = None  # pause once this many messages are recorded
        self.delay = 0.0  # seconds before each message is accepted (and recorded)
        self.holding = threading.Event()
        self.resume = threading.Event()
        self._parser = BytesHeaderParser()

    def _scripted(self, stage: str, server: Any) -> str | None:
        if not self.replies[stage]:
            return None
        reply = self.replies[stage].popleft()
        if reply == DROP:
            server.transport.close()
            return "250 never seen: the connection is closed"
        return reply

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        scripted = self._scripted("RCPT", server)
        if scripted:
            return scripted
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        scripted = self._scripted("DATA", server)
        if scripted:
            return scripted
        if self.delay:
            await asyncio.sleep(self.delay)
        headers = self._parser.parsebytes(envelope.content)
        self.received.append(
            Received(
                envelope.mail_from,
                tuple(envelope.rcpt_tos),
                str(headers["Message-ID"] or ""),
                envelope.content,
            )
        )
        if self.hold_at is not None and len(self.received) == self.hold_at:
            # The message is in; the client waits for the reply it may never read.
            self.holding.set()
            while not self.resume.is_set():
                await asyncio.sleep(0.01)
        return "250 OK: queued"

    def message_ids(self) -> Counter[str]:
        return Counter(message.message_id for message in self.received)


class SmtpSink:
    """A `ScriptedHandler` served on 127.0.0.1, on the same port across stop and start."""

    def __init__(self, handler: ScriptedHandler | None = None, **controller_options: Any):
        self.handler = handler or ScriptedHandler()
        self.host = "127.0.0.1"
        self.port = free_port()
        self.options = controller_options
        self._controller: Controller | None = None

    def start(self) -> "SmtpSink":
        self._controller = Controller(
            self.handler, hostname=self.host, port=self.port, **self.options
        )
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self.handler.resume.set()  # a held message must not keep the loop from stopping
            self._controller.stop()
            self._controller = None
