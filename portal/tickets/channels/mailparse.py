"""Inbound mail reading: one raw RFC 5322 message (bytes from a pipe transport or an IMAP
FETCH) becomes a ParsedMail that the ticket intake can trust to open a ticket or thread a reply.

Pure: no database, no app. `parse()` never raises anything but MailUnreadable, whatever the
bytes; what it could not read cleanly is kept as human-readable `problems` for the handler.

Decisions:

- The stdlib `email` package reads the MIME structure, with the compat32 policy: it records
  defects instead of raising, and leaves header values as text for this module to decode with
  its own charset rules (the modern policy decodes encoded-words with the strict codec of
  their label). Two weak spots of that parser are bounded here: raw 8-bit header bytes are
  decoded as mailers mean them (below) instead of becoming "unknown-8bit" question marks, and
  header parameters (boundary, charset, filename) are not read from a Content-Type or
  Content-Disposition over 16 KiB, whose parsing is quadratic.
- Declared gb2312 and gbk are decoded as gb18030, and big5 as big5hkscs: each is a superset
  of the label, and Chinese mailers label GBK text "gb2312" and HKSCS text "big5", so the
  strict codec of the label would turn real names (镕, 喆) into replacement characters.
  Text without a charset, and raw 8-bit headers, are tried as utf-8 (which seldom decodes
  anything else by accident), then gb18030 (unlabelled mail to a Chinese lender is mostly
  GBK), then latin-1 (which never fails).
- Every field is bounded (text, subject, names, ids, references, attachments, problems), so
  that a hostile message cannot blow up the rows and pages built from it.
- Detection of machine-generated mail is strict (RFC 3834 plus common practice: auto-replies,
  bounces, read receipts, mailing lists, our own loop header): one reply to an auto-responder
  or a bounce can start a mail loop, and a list or bounce is never a complaint. The price, a
  rare human message wrongly flagged, is paid by the intake keeping such mail visible rather
  than dropping it.
- HTML bodies become text through the stdlib HTML parser, never regular expressions; script,
  style and head content, comments and tags never reach the text.
"""

import binascii
import codecs
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email import message_from_bytes
from email.message import Message
from email.policy import Compat32
from email.quoprimime import header_decode
from email.utils import getaddresses, parsedate_to_datetime
from html import unescape
from html.parser import HTMLParser
from typing import Any

MAX_MESSAGE_BYTES = 25 * 1024 * 1024
MAX_TEXT_CHARS = 100_000
MAX_HEADER_TEXT_CHARS = 300  # subject and display names
MAX_MESSAGE_ID_CHARS = 998  # RFC 5322 line limit; a longer "id" is garbage, not an id
MAX_FILENAME_CHARS = 255
MAX_ATTACHMENTS = 100  # listed; the rest are counted in a problem note
# Kept: the first (the thread's root) and the latest ones, as RFC 5322 §3.6.4 allows trimming.
MAX_REFERENCES = 100
MAX_PROBLEMS = 20
TRUNCATION_MARKER = "[… truncated]"


class MailUnreadable(Exception):
    """The bytes cannot be read as an email at all (empty, not a message, too large).
    str() is a one-line reason for the quarantine."""


@dataclass(frozen=True)
class Attachment:
    filename: str  # decoded, path components stripped, "" when none
    content_type: str
    size: int  # decoded bytes


@dataclass(frozen=True)
class ParsedMail:
    message_id: str | None  # without angle brackets; None when absent or empty
    sender: str | None  # the From address, domain lower-cased; None when not local@domain
    sender_name: str  # decoded display name, "" when none
    reply_to: str | None
    to: tuple[str, ...]  # addresses from To and Cc
    subject: str  # decoded, whitespace collapsed, at most MAX_HEADER_TEXT_CHARS
    sent_at: datetime | None  # aware UTC; None when missing or unparseable
    in_reply_to: tuple[str, ...]  # message ids, no angle brackets
    references: tuple[str, ...]  # message ids in order, no angle brackets
    text: str  # the body as plain text, at most MAX_TEXT_CHARS then TRUNCATION_MARKER
    attachments: tuple[Attachment, ...]
    automatic: str | None  # why no ticket and no reply: machine-generated; None for a human
    problems: tuple[str, ...]  # what could not be read cleanly, for the handler
    size: int  # len(raw)


def parse(
    raw: bytes,
    *,
    loop_header: str = "X-Credit-Care-Loop",
    own_addresses: frozenset[str] = frozenset(),
) -> ParsedMail:
    """Read one raw message; MailUnreadable when it cannot be read as an email at all."""
    if len(raw) > MAX_MESSAGE_BYTES:
        raise MailUnreadable(f"too large: {len(raw) / 1024 / 1024:.1f} MB")
    if not raw or raw.isspace():
        raise MailUnreadable("empty")
    try:
        return _read(raw, loop_header, own_addresses)
    except MailUnreadable:
        raise
    except RecursionError as error:
        raise MailUnreadable("MIME parts nested too deeply") from error
    except Exception as error:
        # The email package has a history of raising on hostile input; such a message belongs
        # in the quarantine, not in a crashed intake run.
        reason = f"cannot be read: {type(error).__name__}: {error}"
        raise MailUnreadable(_one_line(reason)[:300]) from error


def strip_quoted_reply(text: str) -> str:
    """The new part of a reply, without the quoted history below it; `text` itself when
    nothing is quoted or when everything is quote."""
    lines = text.split("\n")
    history_start = _history_start(lines)
    end = len(lines) if history_start is None else history_start
    quoted = history_start is not None
    while end and (not lines[end - 1].strip() or _QUOTED_LINE.match(lines[end - 1])):
        quoted = quoted or bool(_QUOTED_LINE.match(lines[end - 1]))
        end -= 1
    if history_start is not None:
        while end and _SEPARATOR_LINE.match(lines[end - 1]):
            end -= 1
    new_part = "\n".join(lines[:end]).rstrip()
    return new_part if quoted and new_part.strip() else text


# --- reading the message -------------------------------------------------------------------

_MAX_PARAMETER_HEADER_CHARS = 16 * 1024
_AUTOMATIC_PRECEDENCE = frozenset({"bulk", "junk", "list", "auto_reply"})
_AUTOMATIC_RESPONSE_SUPPRESS = frozenset({"all", "autoreply", "oof", "dr"})
_SYSTEM_SENDERS = frozenset({"mailer-daemon", "postmaster"})
_REPORT_TYPES = frozenset(
    {
        "multipart/report",
        "message/delivery-status",
        "message/disposition-notification",
        "message/global-delivery-status",
        "message/global-disposition-notification",
    }
)
_BODY_TYPES = ("text/plain", "text/html")


class _BoundedMessage(Message):
    """A compat32 message whose header parameters are not read from oversized headers."""

    def get_param(
        self, param: str, failobj: Any = None, header: str = "content-type", unquote: bool = True
    ) -> Any:
        # Message._parseparam copies the rest of the header per parameter: a megabyte of
        # "; a=b" takes minutes. The feed parser asks for the boundary this way too.
        if len(self.get(header, "")) > _MAX_PARAMETER_HEADER_CHARS:
            return failobj
        return super().get_param(param, failobj, header, unquote)


class _MailPolicy(Compat32):
    """compat32, except that raw 8-bit header bytes are read as text, not as unknown-8bit."""

    def header_fetch_parse(self, name: str, value: Any) -> Any:
        if isinstance(value, str) and not value.isascii():
            return _decode_unlabelled(value.encode("utf-8", "surrogateescape"))
        return super().header_fetch_parse(name, value)


_POLICY = _MailPolicy(message_factory=_BoundedMessage)


def _read(raw: bytes, loop_header: str, own_addresses: frozenset[str]) -> ParsedMail:
    message = message_from_bytes(raw, policy=_POLICY)
    if not message.keys():
        raise MailUnreadable("not an email: no header fields")
    problems: list[str] = []
    from_pairs = _address_pairs(message, ("From",), problems)
    sender = _first_usable(from_pairs)
    recipients = _address_pairs(message, ("To", "Cc"), problems)
    text, attachments = _read_parts(message, problems)
    return ParsedMail(
        message_id=next(iter(_message_ids(message.get("Message-ID"))), None),
        sender=sender,
        sender_name=_header_text(from_pairs[0][0] if from_pairs else "", problems, "sender name"),
        reply_to=_first_usable(_address_pairs(message, ("Reply-To",), problems)),
        to=tuple(dict.fromkeys(filter(None, (_usable_address(a) for _, a in recipients)))),
        subject=_header_text(message.get("Subject", ""), problems, "subject"),
        sent_at=_sent_at(message.get("Date")),
        in_reply_to=_message_ids(message.get("In-Reply-To")),
        references=_message_ids(message.get("References")),
        text=_truncated(_clean_text(text).strip()),
        attachments=attachments,
        automatic=_automatic_reason(
            message,
            from_pairs[0][1] if from_pairs else "",
            sender,
            loop_header,
            own_addresses,
        ),
        problems=_bounded_problems(problems),
        size=len(raw),
    )


def _walk(message: Message) -> Iterator[tuple[Message, bool]]:
    """Every part in document order, and whether it lies inside an attached message/* part.

    A loop, not Message.walk()'s recursion, so depth is limited by the parser alone.
    """
    stack = [(message, False)]
    while stack:
        part, enclosed = stack.pop()
        yield part, enclosed
        # is_multipart() first: get_payload() of a leaf decodes it, and raises for some charsets
        if part.is_multipart():
            inside = enclosed or part.get_content_maintype() == "message"
            stack.extend(
                (child, inside)
                for child in reversed(part.get_payload())
                if isinstance(child, Message)
            )


def _read_parts(message: Message, problems: list[str]) -> tuple[str, tuple[Attachment, ...]]:
    plain: str | None = None
    html: str | None = None
    attachments: list[Attachment] = []
    unlisted = 0
    for part, enclosed in _walk(message):
        if enclosed:
            continue  # an attached message's parts are its own business, not this message's
        content_type = part.get_content_type()
        is_multipart = content_type.startswith("multipart/")
        label = "message" if part is message else content_type
        if not (is_multipart and part.is_multipart()):
            filename = _filename(part, problems)
            label = f'{label} "{filename}"' if filename else label
            # A multipart without a boundary arrives as one flat part: its raw text is all the
            # body there is.
            body_type = content_type in _BODY_TYPES or is_multipart
            if filename or part.get_content_disposition() == "attachment" or not body_type:
                if len(attachments) < MAX_ATTACHMENTS:
                    attachments.append(Attachment(filename, content_type, _decoded_size(part)))
                else:
                    unlisted += 1
            elif content_type == "text/html":
                if html is None:
                    html = _part_text(part, problems)
            elif plain is None:
                plain = _part_text(part, problems)
        problems.extend(f"malformed {label}: {_defect_text(defect)}" for defect in part.defects)
    if unlisted:
        problems.append(f"{unlisted} more attachments not listed")
    if plain is not None and plain.strip():
        return plain, tuple(attachments)
    if html is not None:
        return _html_to_text(html, problems), tuple(attachments)
    return plain or "", tuple(attachments)


def _part_text(part: Message, problems: list[str]) -> str:
    payload = part.get_payload(decode=True)
    data = payload if isinstance(payload, bytes) else b""
    return _decode(data, part.get_content_charset(), problems, "body")


def _decoded_size(part: Message) -> int:
    if part.is_multipart():  # an attached message: the size of the message as sent
        return sum(len(child.as_bytes()) for child in part.get_payload())
    payload = part.get_payload(decode=True)
    return len(payload) if isinstance(payload, bytes) else 0


def _filename(part: Message, problems: list[str]) -> str:
    for header, param in (("content-disposition", "filename"), ("content-type", "name")):
        value = part.get_param(param, header=header)
        if isinstance(value, tuple):  # RFC 2231: (charset, language, percent-decoded text)
            charset, _language, text = value
            name = _decode(text.encode("latin-1", "replace"), charset, problems, "file name")
        elif isinstance(value, str):
            name = _decode_encoded_words(value, problems, "file name")
        else:
            continue
        name = _clean_text(name).replace("\\", "/").rsplit("/", 1)[-1].strip()
        if name in (".", ".."):
            return ""
        if len(name) > MAX_FILENAME_CHARS:
            stem, dot, extension = name.rpartition(".")
            kept = f"{dot}{extension}" if stem and len(extension) <= 16 else ""
            name = name[: MAX_FILENAME_CHARS - len(kept)] + kept
        return name
    return ""


def _defect_text(defect: Exception) -> str:
    return (type(defect).__doc__ or type(defect).__name__).strip().rstrip(".")


def _bounded_problems(problems: list[str]) -> tuple[str, ...]:
    unique = list(dict.fromkeys(_one_line(problem) for problem in problems))
    if len(unique) <= MAX_PROBLEMS:
        return tuple(unique)
    kept = unique[: MAX_PROBLEMS - 1]
    return (*kept, f"… and {len(unique) - len(kept)} more problems")


# --- headers ---------------------------------------------------------------------------------

_MESSAGE_ID_IN_BRACKETS = re.compile(r"<([^<>\s\x00-\x1f\x7f]+)>")
_BARE_MESSAGE_ID = re.compile(r"[^<>\s\x00-\x1f\x7f]+@[^<>\s\x00-\x1f\x7f]+")
_ADDRESS = re.compile(r"[^\s@<>()\[\]\\,;:\"\x00-\x1f\x7f]+@[^\s@<>()\[\]\\,;:\"\x00-\x1f\x7f]+")
_MAX_ADDRESS_CHARS = 254  # RFC 5321 path limit
# Thousands of recipients fit; the address parser takes seconds per megabyte.
_MAX_ADDRESS_HEADERS_CHARS = 64 * 1024
_ENCODED_WORD = re.compile(r"=\?([!->@-~]+)\?([bBqQ])\?([!->@-~]*)\?=")  # printable ASCII but "?"


def _address_pairs(
    message: Message, names: tuple[str, ...], problems: list[str]
) -> list[tuple[str, str]]:
    addresses = ", ".join(value for name in names for value in message.get_all(name, []))
    if not addresses:
        return []
    if len(addresses) > _MAX_ADDRESS_HEADERS_CHARS:
        problems.append(f"{'/'.join(names)} header too long: only its first addresses read")
        addresses = addresses[:_MAX_ADDRESS_HEADERS_CHARS].rpartition(",")[0]
    try:
        return getaddresses([addresses])
    except RecursionError:  # the address parser recurses into nested comments
        problems.append(f"{'/'.join(names)} header could not be read")
        return []


def _first_usable(pairs: list[tuple[str, str]]) -> str | None:
    return next(filter(None, (_usable_address(address) for _, address in pairs)), None)


def _usable_address(address: str) -> str | None:
    """The address with its domain lower-cased, or None for anything but local@domain."""
    address = address.strip()
    if len(address) > _MAX_ADDRESS_CHARS or not _ADDRESS.fullmatch(address):
        return None
    local_part, domain = address.split("@")
    return f"{local_part}@{domain.lower()}"


def _message_ids(value: str | None) -> tuple[str, ...]:
    if not value:
        return ()
    ids = _MESSAGE_ID_IN_BRACKETS.findall(value) or _BARE_MESSAGE_ID.findall(value)
    unique = tuple(dict.fromkeys(i for i in ids if len(i) <= MAX_MESSAGE_ID_CHARS))
    if len(unique) <= MAX_REFERENCES:
        return unique
    return (unique[0], *unique[1 - MAX_REFERENCES :])


def _sent_at(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        sent_at = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if sent_at.tzinfo is None:  # "-0000": UTC, with the sender's zone unknown (RFC 5322 §3.3)
        return sent_at.replace(tzinfo=UTC)
    try:
        return sent_at.astimezone(UTC)
    except OverflowError:  # year 1 or 9999 pushed past the calendar by the offset
        return None


def _header_text(value: str, problems: list[str], where: str) -> str:
    text = " ".join(_clean_text(_decode_encoded_words(value, problems, where)).split())
    if len(text) <= MAX_HEADER_TEXT_CHARS:
        return text
    return text[: MAX_HEADER_TEXT_CHARS - 1] + "…"


def _decode_encoded_words(value: str, problems: list[str], where: str) -> str:
    """RFC 2047 decoding with this module's charset rules.

    email.header.decode_header would decode gb2312 words with the strict gb2312 codec, and it
    fails on text with a backslash beside an encoded word. Adjacent words in one charset are
    decoded together, since mailers split a multibyte character across two words.
    """
    chunks: list[str | tuple[str, bytearray]] = []  # plain text, or (charset, encoded bytes)
    position = 0
    for match in _ENCODED_WORD.finditer(value):
        between = value[position : match.start()]
        position = match.end()
        charset, encoding, encoded = match.groups()
        try:
            data = _decode_word(encoding, encoded)
        except binascii.Error:
            problems.append(f"{where}: an encoded word is not valid base64; shown as sent")
            chunks.append(between + match.group())
            continue
        previous = chunks[-1] if chunks else None
        # whitespace between two encoded words is folding, not text (RFC 2047 §6.2)
        if between and not (isinstance(previous, tuple) and between.isspace()):
            chunks.append(between)
            previous = between
        if isinstance(previous, tuple) and previous[0].lower() == charset.lower():
            previous[1].extend(data)
        else:
            chunks.append((charset, bytearray(data)))
    chunks.append(value[position:])
    return "".join(
        chunk if isinstance(chunk, str) else _decode(bytes(chunk[1]), chunk[0], problems, where)
        for chunk in chunks
    )


def _decode_word(encoding: str, encoded: str) -> bytes:
    if encoding in "qQ":
        return header_decode(encoded).encode("latin-1")
    return binascii.a2b_base64(encoded + "=" * (-len(encoded) % 4))


# --- charsets --------------------------------------------------------------------------------

# Wider codecs for what the label says: see the module docstring.
_SUPERSETS = {"gb2312": "gb18030", "gbk": "gb18030", "big5": "big5hkscs", "ascii": "utf-8"}
# Labels Chinese mailers use that Python does not know.
_EXTRA_LABELS = {"x-gbk": "gb18030", "gb_2312-80": "gb18030", "x-gb2312": "gb18030"}
# Python text codecs that are not character sets: they raise on any input or read escapes.
_NOT_CHARSETS = frozenset({"idna", "punycode", "undefined", "unicode-escape", "raw-unicode-escape"})


def _codec(charset: str) -> str | None:
    label = charset.strip().strip("\"'").split("*", 1)[0].lower()  # RFC 2231 "charset*lang"
    label = _EXTRA_LABELS.get(label, label)
    try:
        name = codecs.lookup(label).name
    except (LookupError, ValueError):
        return None
    if name in _NOT_CHARSETS:
        return None
    try:
        # bytes.decode refuses codecs that do not make text (base64, zlib, rot13), but only
        # when there is something to decode
        b"-".decode(name)
    except LookupError:
        return None
    except UnicodeError:
        pass  # a text codec that wants more than one byte, such as utf-16
    return _SUPERSETS.get(name, name)


def _decode(data: bytes, charset: str | None, problems: list[str], where: str) -> str:
    if not charset:
        return _decode_unlabelled(data)
    codec = _codec(charset)
    if codec is None:
        for fallback in ("utf-8", "gb18030"):
            try:
                text = data.decode(fallback)
            except UnicodeDecodeError:
                continue
            problems.append(f"{where}: unknown charset {charset[:40]!r}, read as {fallback}")
            return text
        problems.append(
            f"{where}: unknown charset {charset[:40]!r}, read as utf-8, unreadable bytes replaced"
        )
        return data.decode("utf-8", "replace")
    try:
        return data.decode(codec)
    except UnicodeError:
        problems.append(f"{where}: not valid {charset[:40]} text, unreadable bytes replaced")
        return data.decode(codec, "replace")


def _decode_unlabelled(data: bytes) -> str:
    for codec in ("utf-8", "gb18030"):
        try:
            return data.decode(codec)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


# --- text hygiene ----------------------------------------------------------------------------

# C0 controls but tab and newline, DEL, and lone surrogates (exotic codecs such as utf-7
# produce them, and databases refuse them).
_UNWANTED_CHARACTERS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\ud800-\udfff]")


def _clean_text(text: str) -> str:
    return _UNWANTED_CHARACTERS.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))


def _one_line(text: str) -> str:
    return " ".join(_clean_text(text).split())


def _truncated(text: str) -> str:
    if len(text) <= MAX_TEXT_CHARS:
        return text
    return f"{text[:MAX_TEXT_CHARS]}\n{TRUNCATION_MARKER}"


# --- automatic mail --------------------------------------------------------------------------


def _automatic_reason(
    message: Message,
    from_address: str,
    sender: str | None,
    loop_header: str,
    own_addresses: frozenset[str],
) -> str | None:
    if loop_header in message:
        return f"mail loop: our own {loop_header} header came back"
    if sender and sender.lower() in {address.lower() for address in own_addresses}:
        return f"mail loop: sent from our own address {sender}"
    auto_submitted = _first_token(message.get("Auto-Submitted"))
    if auto_submitted is not None and auto_submitted != "no":  # "no": sent by a person
        return f"Auto-Submitted: {auto_submitted[:40]}"
    if any(
        part.get_content_type() in _REPORT_TYPES
        for part, enclosed in _walk(message)
        if not enclosed
    ):
        return "delivery status or read report"
    system_sender = from_address.strip().rsplit("@", 1)[0].lower()
    if system_sender in _SYSTEM_SENDERS:
        return f"sent by the mail system ({system_sender})"
    if "".join(message.get("Return-Path", "x").split()) == "<>":
        return "empty Return-Path <>: a bounce or an automatic notification"
    precedence = _first_token(message.get("Precedence"))
    if precedence in _AUTOMATIC_PRECEDENCE:
        return f"Precedence: {precedence}"
    for header in ("X-Autoreply", "X-Autorespond"):
        if header in message:
            return f"{header} header"
    suppressed = _AUTOMATIC_RESPONSE_SUPPRESS & {
        token.strip().lower() for token in message.get("X-Auto-Response-Suppress", "").split(",")
    }
    if suppressed:
        return f"X-Auto-Response-Suppress: {', '.join(sorted(suppressed))}"
    for header in ("List-Id", "List-Unsubscribe"):
        if header in message:
            return f"mailing list ({header} header)"
    return None


def _first_token(value: str | None) -> str | None:
    """The keyword of a header such as "auto-replied; reason=vacation", lower-cased."""
    if value is None:
        return None
    return re.split(r"[\s;(]", value.strip(), maxsplit=1)[0].lower()


# --- HTML to text ----------------------------------------------------------------------------

_MAX_HTML_CHARS = 2_000_000
_HTML_SPACE = re.compile(r"[ \t\n\r\f\xa0]+")
_BLANK_LINES = re.compile(r"\n{3,}")
_HIDDEN_ELEMENTS = frozenset({"script", "style", "head", "title", "template"})
_HEAD_ELEMENTS = frozenset(
    {"base", "link", "meta", "noscript", "script", "style", "template", "title"}
)
_PARAGRAPH_ELEMENTS = frozenset(
    {"p", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "table", "ul", "ol", "dl"}
)
_LINE_ELEMENTS = frozenset(
    {
        "address", "article", "aside", "dd", "div", "dt", "fieldset", "figcaption", "figure",
        "footer", "form", "header", "hr", "li", "main", "nav", "section", "tr",
    }
)  # fmt: skip
_CELL_ELEMENTS = frozenset({"td", "th"})
_LINKED_SCHEMES = frozenset({"http", "https", "mailto"})


class _HtmlToText(HTMLParser):
    """The visible text of an HTML body, with block elements as line breaks."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self._pieces: list[str] = []
        self._trailing_newlines = 0
        self._hidden = Counter[str]()  # open script, style, head… elements
        self._link: tuple[str, int] | None = None  # href, and where the link's text starts
        self._preformatted = 0

    def text(self) -> str:
        lines = (line.rstrip() for line in "".join(self._pieces).split("\n"))
        return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip("\n")

    def finish(self) -> None:
        """End the document in place of close(), which rescans the unparsed rest once per "<"
        in it: quadratic on hostile input (CVE-2025-6069, fixed after Python 3.11.7). An
        unclosed tag, comment or declaration at the end is dropped, as browsers drop it."""
        rest, self.rawdata = self.rawdata, ""
        if not rest.startswith("<"):
            self.handle_data(unescape(rest))  # text held back for a possibly cut entity

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in _HEAD_ELEMENTS:
            self._hidden["head"] = 0  # as in browsers, body content ends an unclosed head
        if tag in _HIDDEN_ELEMENTS:
            self._hidden[tag] += 1
        if self._is_hidden():
            return
        if tag == "pre":
            self._preformatted += 1
        if tag == "br":
            self._append("\n")
        elif tag == "li":
            self._break(1)
            self._append("- ")
        elif tag in _PARAGRAPH_ELEMENTS:
            self._break(2)
        elif tag in _LINE_ELEMENTS:
            self._break(1)
        elif tag in _CELL_ELEMENTS:
            self._space()
        elif tag == "a":
            self._end_link()  # links do not nest: a new one ends the last, as in browsers
            href = next((value or "" for name, value in attrs if name == "href"), "")
            self._link = (href.strip(), len(self._pieces))

    def handle_endtag(self, tag: str) -> None:
        if self._hidden[tag]:
            self._hidden[tag] -= 1
            return
        if self._is_hidden():
            return
        if tag == "pre":
            self._preformatted = max(0, self._preformatted - 1)
        if tag in _PARAGRAPH_ELEMENTS:
            self._break(2)
        elif tag in _LINE_ELEMENTS:
            self._break(1)
        elif tag == "a":
            self._end_link()

    def handle_data(self, data: str) -> None:
        if self._is_hidden():
            return
        if not self._preformatted:
            data = _HTML_SPACE.sub(" ", data)
            if self._after_space():
                data = data.lstrip(" ")
        self._append(data)

    def parse_marked_section(self, i: int, report: int = 1) -> int:
        # Before CPython gh-77057 the parser raises AssertionError on a "<![" that is no known
        # marked section; browsers read it as a bogus comment up to the next ">".
        try:
            return super().parse_marked_section(i, report)
        except AssertionError:
            end = self.rawdata.find(">", i)
            return -1 if end < 0 else end + 1

    def _is_hidden(self) -> bool:
        return any(self._hidden.values())

    def _append(self, text: str) -> None:
        if not text:
            return
        self._pieces.append(text)
        content = text.rstrip("\n")
        newlines = len(text) - len(content)
        self._trailing_newlines = newlines if content else self._trailing_newlines + newlines

    def _break(self, newlines: int) -> None:
        """End the line (1) or the paragraph (2); breaks of adjacent blocks do not add up."""
        if self._pieces:
            self._append("\n" * (newlines - self._trailing_newlines))

    def _space(self) -> None:
        if not self._after_space():
            self._append(" ")

    def _after_space(self) -> bool:
        return not self._pieces or self._pieces[-1].endswith((" ", "\n"))

    def _end_link(self) -> None:
        if self._link is None:
            return
        href, start = self._link
        self._link = None
        link_text = "".join(self._pieces[start:]).strip()
        scheme = href.partition(":")[0].lower()
        if scheme in _LINKED_SCHEMES and href not in (link_text, f"mailto:{link_text}"):
            self._space()
            self._append(f"({href})")


def _html_to_text(html: str, problems: list[str]) -> str:
    if len(html) > _MAX_HTML_CHARS:
        # The parser manages a few megabytes a second, and far less on hostile markup.
        problems.append(f"HTML body over {_MAX_HTML_CHARS:,} characters: only its beginning read")
        html = html[:_MAX_HTML_CHARS]
    converter = _HtmlToText()
    converter.feed(html)
    converter.finish()
    return converter.text()


# --- quoted replies --------------------------------------------------------------------------

_QUOTED_LINE = re.compile(r"\s*>")
_SEPARATOR_LINE = re.compile(r"\s*[_\-=]{5,}\s*$")
_ORIGINAL_MESSAGE = re.compile(
    r"\s*-{2,}\s*(?:original message|原始邮件|回复的原邮件)\s*-{2,}\s*$", re.IGNORECASE
)
_ATTRIBUTION_END = re.compile(r"(?:\swrote|写道)\s*[:：]$", re.IGNORECASE)
_MAX_ATTRIBUTION_CHARS = 300
_HEADER_BLOCK_FROM = re.compile(r"\s*\*?(?:From|发件人)\*?\s*[:：]", re.IGNORECASE)
_HEADER_BLOCK_FIELD = re.compile(
    r"\s*\*?(?:Sent|Date|To|Subject|Cc|发送时间|时间|日期|收件人|抄送|主题)\*?\s*[:：]",
    re.IGNORECASE,
)
_HEADER_BLOCK_REACH = 4  # lines after "From:" in which Outlook puts Sent/To/Subject


def _history_start(lines: list[str]) -> int | None:
    answered = _answered_below(lines)
    for index, line in enumerate(lines):
        if _ORIGINAL_MESSAGE.match(line):
            return index
        if _HEADER_BLOCK_FROM.match(line) and any(
            _HEADER_BLOCK_FIELD.match(following)
            for following in lines[index + 1 : index + 1 + _HEADER_BLOCK_REACH]
        ):
            return index
        for span in (1, 2):  # Gmail wraps a long "On … wrote:" over two lines
            attribution = " ".join(part.strip() for part in lines[index : index + span])
            if _is_attribution(attribution) and not answered[min(index + span, len(lines))]:
                return index
    return None


def _is_attribution(line: str) -> bool:
    """ "On … wrote:" (Gmail, Apple Mail, Thunderbird), "在 … 写道：", "… 于 … 写道：" (Gmail)."""
    if len(line) > _MAX_ATTRIBUTION_CHARS or not _ATTRIBUTION_END.search(line):
        return False
    return bool(re.match(r"On\s", line, re.IGNORECASE)) or line.startswith("在") or "于" in line


def _answered_below(lines: list[str]) -> list[bool]:
    """For each line, whether new text follows quoted text from there on: an interleaved
    reply, whose answers must stay. One more entry, False, for the end."""
    answered = [False] * (len(lines) + 1)
    text_below = False
    for index in range(len(lines) - 1, -1, -1):
        quoted = bool(_QUOTED_LINE.match(lines[index]))
        answered[index] = answered[index + 1] or (quoted and text_below)
        text_below = text_below or (not quoted and bool(lines[index].strip()))
    return answered
