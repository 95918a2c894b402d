"""Inbound mail reading: headers, charsets, bodies, attachments, automatic mail, quoted replies,
and hostile input that must end in MailUnreadable or a ParsedMail, never anything else."""

import base64
import quopri
import random
import tracemalloc
from datetime import UTC, datetime
from email.message import EmailMessage
from email.quoprimime import header_encode
from urllib.parse import quote_from_bytes

import pytest

from portal.tickets.channels.mailparse import (
    MAX_TEXT_CHARS,
    TRUNCATION_MARKER,
    Attachment,
    MailUnreadable,
    ParsedMail,
    parse,
    strip_quoted_reply,
)

MB = 1024 * 1024


def raw_mail(*headers: str | bytes, body: bytes = b"Hello\n") -> bytes:
    """A raw message from header lines and a body, exactly as given."""
    lines = [line if isinstance(line, bytes) else line.encode() for line in headers]
    return b"\n".join(lines) + b"\n\n" + body


def encoded_word(data: bytes, label: str, encoding: str) -> str:
    if encoding == "Q":
        return header_encode(data, charset=label)
    return f"=?{label}?B?{base64.b64encode(data).decode()}?="


def nested_multipart(depth: int) -> bytes:
    opening = b"".join(
        b"--b%d\nContent-Type: multipart/mixed; boundary=b%d\n\n" % (level, level + 1)
        for level in range(depth)
    )
    closing = b"".join(b"\n--b%d--\n" % level for level in reversed(range(depth)))
    innermost = b"--b%d\nContent-Type: text/plain\n\ndeep\n" % depth
    return (
        b"From: a@mail.example\nContent-Type: multipart/mixed; boundary=b0\n\n"
        + opening
        + innermost
        + closing
    )


# --- headers ---------------------------------------------------------------------------------


def test_reads_the_headers_and_body_of_an_ordinary_message() -> None:
    message = EmailMessage()
    message["From"] = "王小明 <Wang.XiaoMing@Example.COM>"
    message["Reply-To"] = "wang@home.example"
    message["To"] = "Complaints <complaints@lender.example>, second@LENDER.example"
    message["Cc"] = "cc@lender.example"
    message["Subject"] = "Re: 投诉 [CC-2024-0001]"
    message["Date"] = "Tue, 02 Jan 2024 09:30:00 +0800"
    message["Message-ID"] = "<reply-1@mail.example>"
    message["In-Reply-To"] = "<ack-1@lender.example>"
    message["References"] = "<root@mail.example> <ack-1@lender.example>"
    message.set_content("我的信用卡被重复扣款。\n")
    raw = message.as_bytes()

    assert parse(raw) == ParsedMail(
        message_id="reply-1@mail.example",
        sender="Wang.XiaoMing@example.com",
        sender_name="王小明",
        reply_to="wang@home.example",
        to=("complaints@lender.example", "second@lender.example", "cc@lender.example"),
        subject="Re: 投诉 [CC-2024-0001]",
        sent_at=datetime(2024, 1, 2, 1, 30, tzinfo=UTC),
        in_reply_to=("ack-1@lender.example",),
        references=("root@mail.example", "ack-1@lender.example"),
        text="我的信用卡被重复扣款。",
        attachments=(),
        automatic=None,
        problems=(),
        size=len(raw),
    )


@pytest.mark.parametrize(
    "from_line",
    [
        None,
        "From: undisclosed-recipients:;",
        "From: Undisclosed",
        "From: <>",
        'From: "Support" <not an address>',
        "From: a@b@mail.example",
        b"From: wang\x00@mail.example",
    ],
)
def test_sender_is_none_without_a_usable_address(from_line: str | bytes | None) -> None:
    headers = [line for line in (from_line, "Subject: hello") if line is not None]
    assert parse(raw_mail(*headers)).sender is None


@pytest.mark.parametrize(
    ("header", "message_id"),
    [
        ("Message-ID: <>", None),
        ("Message-ID:    ", None),
        ("Subject: no id", None),
        ("Message-ID:  <abc.123@mail.example> ", "abc.123@mail.example"),
        ("Message-ID: bare.id@mail.example", "bare.id@mail.example"),
    ],
)
def test_message_id_loses_its_brackets_and_is_none_when_missing(
    header: str, message_id: str | None
) -> None:
    assert parse(raw_mail("From: a@mail.example", header)).message_id == message_id


def test_references_keep_their_order_without_duplicates_and_the_root_when_trimmed() -> None:
    ids = " ".join(f"<m{number}@mail.example>" for number in range(150))
    parsed = parse(raw_mail(f"References: {ids} <m5@mail.example>", "In-Reply-To: x <m1@a> y"))

    assert parsed.references == (
        "m0@mail.example",
        *(f"m{number}@mail.example" for number in range(51, 150)),
    )
    assert parsed.in_reply_to == ("m1@a",)


@pytest.mark.parametrize(
    ("date", "sent_at"),
    [
        ("Tue, 02 Jan 2024 09:30:00 +0800", datetime(2024, 1, 2, 1, 30, tzinfo=UTC)),
        ("2 Jan 2024 09:30 -0000", datetime(2024, 1, 2, 9, 30, tzinfo=UTC)),
        ("next Tuesday", None),
        ("Tue, 99 Foo 2024 99:99:99 +0800", None),
        ("Tue, 02 Jan 2024 09:30:00 +9999", None),
        ("", None),
    ],
)
def test_date_becomes_aware_utc_or_none(date: str, sent_at: datetime | None) -> None:
    assert parse(raw_mail("From: a@mail.example", f"Date: {date}")).sent_at == sent_at


def test_subject_whitespace_collapsed_controls_removed_and_length_capped() -> None:
    assert parse(raw_mail(b"Subject:  Card\t charged \x00twi\x07ce\n  again ")).subject == (
        "Card charged twice again"
    )
    long_subject = parse(raw_mail("Subject: " + "投" * 1000)).subject
    assert long_subject == "投" * 299 + "…"


@pytest.mark.parametrize("encoding", ["B", "Q"])
@pytest.mark.parametrize(
    ("label", "text", "codec"),
    [
        ("gb2312", "信用卡投诉", "gb2312"),
        ("gb2312", "朱镕基先生的账户", "gbk"),  # 镕 is GBK, not GB2312: mailers label it so
        ("GBK", "镕", "gbk"),
        ("big5", "繁體中文的投訴信", "big5"),
        ("big5", "佢哋嘅信用卡", "big5hkscs"),  # Hong Kong characters under a big5 label
        ("utf-8", "Crédit ✓", "utf-8"),
    ],
)
def test_encoded_word_subjects_in_chinese_charsets(
    label: str, text: str, codec: str, encoding: str
) -> None:
    subject = "Re: " + encoded_word(text.encode(codec), label, encoding)
    parsed = parse(raw_mail("From: a@mail.example", f"Subject: {subject}"))

    assert parsed.subject == f"Re: {text}"
    assert parsed.problems == ()


def test_a_character_split_across_two_encoded_words_is_whole_again() -> None:
    data = "重复扣款".encode("gb2312")
    words = [encoded_word(data[:3], "gb2312", "B"), encoded_word(data[3:], "GB2312", "B")]
    parsed = parse(raw_mail(f"Subject: {words[0]}\n {words[1]}"))

    assert parsed.subject == "重复扣款"


def test_space_between_encoded_words_is_dropped_but_kept_beside_plain_text() -> None:
    subject = "Re: =?utf-8?q?caf=C3=A9?= =?utf-8?q?_cr=C3=A8me?= (2)"
    assert parse(raw_mail(f"Subject: {subject}")).subject == "Re: café crème (2)"


def test_raw_8bit_headers_are_read_as_utf8_or_gb18030() -> None:
    parsed = parse(
        raw_mail(
            b"From: " + "李雷".encode() + b" <li@mail.example>",
            b"Subject: " + "还款问题 镕".encode("gbk"),
        )
    )

    assert (parsed.sender_name, parsed.subject) == ("李雷", "还款问题 镕")


def test_display_name_in_an_encoded_word() -> None:
    name = encoded_word("朱镕基".encode("gbk"), "gb2312", "B")
    parsed = parse(raw_mail(f'From: "{name}" <zhu@mail.example>'))

    assert (parsed.sender_name, parsed.sender) == ("朱镕基", "zhu@mail.example")


def test_bad_base64_in_an_encoded_word_is_shown_as_sent_with_a_problem() -> None:
    parsed = parse(raw_mail("Subject: =?utf-8?B?5?= tail"))

    assert parsed.subject == "=?utf-8?B?5?= tail"
    assert parsed.problems == ("subject: an encoded word is not valid base64; shown as sent",)


def test_unknown_charset_in_an_encoded_word_is_guessed_with_a_problem() -> None:
    subject = encoded_word("投诉".encode(), "x-unknown", "B")
    parsed = parse(raw_mail(f"Subject: {subject}"))

    assert parsed.subject == "投诉"
    assert parsed.problems == ("subject: unknown charset 'x-unknown', read as utf-8",)


# --- body charsets and transfer encodings ----------------------------------------------------


def body_part(text_bytes: bytes, transfer_encoding: str) -> bytes:
    if transfer_encoding == "base64":
        return base64.encodebytes(text_bytes)
    if transfer_encoding == "quoted-printable":
        return quopri.encodestring(text_bytes)
    return text_bytes


@pytest.mark.parametrize(
    ("label", "text", "codec", "transfer_encoding"),
    [
        ("gb2312", "您好，我要投诉信用卡年费。", "gb2312", "base64"),
        ("gb2312", "朱镕基先生的账户", "gbk", "quoted-printable"),
        ("GBK", "镕", "gbk", "8bit"),
        ("big5", "繁體中文的投訴信", "big5", "base64"),
        ("Big5", "佢哋嘅信用卡", "big5hkscs", "quoted-printable"),
        ("utf-8", "Crédit — ✓\n第二行", "utf-8", "quoted-printable"),
        ("iso-8859-1", "Café crème", "latin-1", "8bit"),
        ("us-ascii", "naïve utf-8 under an ascii label", "utf-8", "8bit"),
    ],
)
def test_declared_charsets_in_every_transfer_encoding(
    label: str, text: str, codec: str, transfer_encoding: str
) -> None:
    raw = raw_mail(
        "From: a@mail.example",
        f'Content-Type: text/plain; charset="{label}"',
        f"Content-Transfer-Encoding: {transfer_encoding}",
        body=body_part(text.encode(codec), transfer_encoding),
    )
    parsed = parse(raw)

    assert parsed.text == text
    assert parsed.problems == ()


@pytest.mark.parametrize(
    ("body", "text"),
    [
        ("还款 ✓".encode(), "还款 ✓"),
        ("还款问题，镕".encode("gb18030"), "还款问题，镕"),
        ("café, merci".encode("latin-1"), "café, merci"),
    ],
)
def test_missing_charset_tries_utf8_then_gb18030_then_latin1(body: bytes, text: str) -> None:
    parsed = parse(raw_mail("From: a@mail.example", "Content-Type: text/plain", body=body))

    assert parsed.text == text
    assert parsed.problems == ()


@pytest.mark.parametrize(
    ("label", "body", "text", "problem"),
    [
        *(
            (label, "投诉内容".encode(), "投诉内容", "read as utf-8")
            for label in ("x-unknown", 'utf-8\\"junk', "base64", "zlib", "rot13", "idna")
        ),
        ("x-unknown", "投诉内容".encode("gbk"), "投诉内容", "read as gb18030"),
        (
            "undefined",
            b"ok \xff\xff",
            "ok \ufffd\ufffd",
            "read as utf-8, unreadable bytes replaced",
        ),
    ],
)
def test_unknown_charset_falls_back_and_names_the_charset(
    label: str, body: bytes, text: str, problem: str
) -> None:
    raw = raw_mail(
        "From: a@mail.example", f'Content-Type: text/plain; charset="{label}"', body=body
    )
    parsed = parse(raw)

    assert parsed.text == text
    declared = label.replace("\\", "")
    assert parsed.problems == (f"body: unknown charset {declared!r}, {problem}",)


def test_broken_utf8_is_replaced_with_a_problem() -> None:
    raw = raw_mail(
        "From: a@mail.example",
        "Content-Type: text/plain; charset=utf-8",
        body=b"caf\xe9 ok",
    )
    parsed = parse(raw)

    assert parsed.text == "caf\ufffd ok"
    assert parsed.problems == ("body: not valid utf-8 text, unreadable bytes replaced",)


def test_base64_with_foreign_characters_is_decoded_with_a_problem() -> None:
    encoded = base64.b64encode("投诉信用卡".encode()).decode()
    damaged = f"{encoded[:6]}!!{encoded[6:]}"
    parsed = parse(
        raw_mail(
            "From: a@mail.example",
            "Content-Type: text/plain; charset=utf-8",
            "Content-Transfer-Encoding: base64",
            body=damaged.encode(),
        )
    )

    assert parsed.text == "投诉信用卡"
    assert parsed.problems == (
        "malformed message: base64 encoded sequence had characters not in base64 alphabet",
    )


def test_base64_of_impossible_length_is_shown_undecoded_with_a_problem() -> None:
    parsed = parse(
        raw_mail(
            "From: a@mail.example",
            "Content-Type: text/plain; charset=utf-8",
            "Content-Transfer-Encoding: base64",
            body=b"SGVsbG8gd29ybGQh5",
        )
    )

    assert parsed.text == "SGVsbG8gd29ybGQh5"
    assert parsed.problems == (
        "malformed message: base64 encoded sequence had invalid length (1 mod 4)",
    )


# --- body choice and HTML --------------------------------------------------------------------


def test_multipart_alternative_prefers_the_plain_text() -> None:
    message = EmailMessage()
    message["From"] = "a@mail.example"
    message.set_content("Plain version")
    message.add_alternative("<p>HTML version</p>", subtype="html")

    assert parse(message.as_bytes()).text == "Plain version"


def test_html_only_body_becomes_readable_text() -> None:
    html = """<html><head><title>Title</title><style>p {color: red}</style></head><body>
<h1>Dear  team</h1><!-- tracking comment --><p>My &amp; card&nbsp;ending 1234<br>was charged
twice.</p><div>See <a href="https://bank.example/statement">my statement</a> or
<a href="https://x.example">https://x.example</a> and <a href="mailto:a@b.example">a@b.example</a>
<a href="javascript:alert(1)">click</a></div>
<ul><li>one</li><li>two</li></ul><table><tr><td>Amount</td><td>&#165;100</td></tr>
<tr><td>Date</td><td>1 Jan</td></tr></table><div><div>nested</div></div>
<script>document.write('injected')</script><p></p><p></p><p>Thanks<br><br><br><br>Bye</p>
<pre>  a  b
  c</pre></body></html>"""
    message = EmailMessage()
    message["From"] = "a@mail.example"
    message.set_content(html, subtype="html")

    assert parse(message.as_bytes()).text == (
        "Dear team\n\nMy & card ending 1234\nwas charged twice.\n\n"
        "See my statement (https://bank.example/statement) or https://x.example and "
        "a@b.example click\n\n- one\n- two\n\nAmount ¥100\nDate 1 Jan\n\nnested\n\n"
        "Thanks\n\nBye\n\n  a  b\n  c"
    )


@pytest.mark.parametrize(
    ("html", "text"),
    [
        ("<head><title>t</title><p>no closing head</p>", "no closing head"),
        ("<p>before<![if !supportLists]>·<![endif]>after</p>", "before·after"),
        ("<p>before<![ broken marked section</p>", "before"),
        ("<p>kept</p><a href='https://x.example'>cut", "kept\n\ncut"),
        ("<p>kept</p><!-- never closed <p>hidden</p>", "kept"),
        ("<p>Tom &amp Jerry &copy 2024", "Tom & Jerry © 2024"),
    ],
)
def test_malformed_html_reads_as_a_browser_shows_it(html: str, text: str) -> None:
    raw = raw_mail(
        "From: a@mail.example", "Content-Type: text/html; charset=utf-8", body=html.encode()
    )
    assert parse(raw).text == text


def test_blank_plain_part_gives_way_to_the_html_one() -> None:
    message = EmailMessage()
    message["From"] = "a@mail.example"
    message.set_content("  \n")
    message.add_alternative("<p>The real text</p>", subtype="html")

    assert parse(message.as_bytes()).text == "The real text"


def test_attached_text_file_is_not_the_body() -> None:
    raw = raw_mail(
        "From: a@mail.example",
        "Content-Type: multipart/mixed; boundary=sep",
        body=b"--sep\n"
        b"Content-Type: text/plain\n"
        b'Content-Disposition: attachment; filename="notes.txt"\n\n'
        b"attached notes\n"
        b"--sep\n"
        b"Content-Type: text/plain; charset=utf-8\n\n"
        b"The real body\n"
        b"--sep--\n",
    )
    parsed = parse(raw)

    assert parsed.text == "The real body"
    assert parsed.attachments == (Attachment("notes.txt", "text/plain", len(b"attached notes")),)


def test_forwarded_message_is_an_attachment_not_the_body() -> None:
    forwarded = b"From: bank@lender.example\nSubject: Statement\n\nInner text"
    raw = raw_mail(
        "From: a@mail.example",
        "Content-Type: multipart/mixed; boundary=sep",
        body=b"--sep\nContent-Type: text/plain\n\nSee the forwarded mail\n"
        b"--sep\nContent-Type: message/rfc822\n\n" + forwarded + b"\n--sep--\n",
    )
    parsed = parse(raw)

    assert parsed.text == "See the forwarded mail"
    assert parsed.attachments == (Attachment("", "message/rfc822", len(forwarded)),)


@pytest.mark.parametrize(
    ("disposition", "filename"),
    [
        ('attachment; filename="../../etc/passwd"', "passwd"),
        ('attachment; filename="C:\\Users\\wang\\账单.pdf"'.encode(), "账单.pdf"),
        (
            "attachment; filename*=gb2312''" + quote_from_bytes("镕账单.pdf".encode("gbk")),
            "镕账单.pdf",
        ),
        (f'attachment; filename="{encoded_word("镕.pdf".encode("gbk"), "GBK", "B")}"', "镕.pdf"),
        ("attachment", ""),
        ('attachment; filename=".."', ""),
    ],
)
def test_attachment_filenames_are_decoded_and_stripped_of_paths(
    disposition: str | bytes, filename: str
) -> None:
    line = disposition if isinstance(disposition, bytes) else disposition.encode()
    raw = raw_mail(
        "From: a@mail.example",
        "Content-Type: multipart/mixed; boundary=sep",
        body=b"--sep\nContent-Type: text/plain\n\nSee attached\n"
        b"--sep\nContent-Type: application/pdf\nContent-Transfer-Encoding: base64\n"
        b"Content-Disposition: "
        + line
        + b"\n\n"
        + base64.encodebytes(b"%PDF-1.7\n")
        + b"--sep--\n",
    )
    parsed = parse(raw)

    assert parsed.text == "See attached"
    assert parsed.attachments == (Attachment(filename, "application/pdf", 9),)


def test_attachment_name_may_come_from_the_content_type() -> None:
    message = EmailMessage()
    message["From"] = "a@mail.example"
    message.set_content("See attached")
    message.add_attachment(b"12345", maintype="image", subtype="png")
    message.get_payload()[1].set_param("name", "scan.png")

    assert parse(message.as_bytes()).attachments == (Attachment("scan.png", "image/png", 5),)


def test_a_20_mb_message_yields_its_text_and_attachment_size_without_the_bytes() -> None:
    attachment = random.Random(0).randbytes(15 * MB)
    message = EmailMessage()
    message["From"] = "a@mail.example"
    message.set_content("Short body")
    message.add_attachment(
        attachment, maintype="application", subtype="octet-stream", filename="scan.bin"
    )
    raw = message.as_bytes()
    assert 19 * MB < len(raw) < 21 * MB

    tracemalloc.start()
    try:
        parsed = parse(raw)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    assert parsed.text == "Short body"
    assert parsed.attachments == (Attachment("scan.bin", "application/octet-stream", 15 * MB),)
    assert peak < 10 * len(raw)  # a few working copies, not one per line or per part
    assert len(repr(parsed)) < 1000  # the attachment's bytes are not kept


def test_attachments_beyond_the_listed_hundred_are_counted() -> None:
    parts = b"".join(
        b"--sep\nContent-Type: application/pdf; name=f%d.pdf\n\nx\n" % number
        for number in range(130)
    )
    raw = raw_mail(
        "From: a@mail.example",
        "Content-Type: multipart/mixed; boundary=sep",
        body=parts + b"--sep--\n",
    )
    parsed = parse(raw)

    assert [a.filename for a in parsed.attachments] == [f"f{n}.pdf" for n in range(100)]
    assert parsed.problems == ("30 more attachments not listed",)


# --- text hygiene and limits -----------------------------------------------------------------


def test_controls_removed_and_line_ends_normalised() -> None:
    raw = (
        b"From: a@mail.example\r\nSubject: x\x00y\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n\r\n"
        b"line\x00 one\x01\x1b\ttab\r\nline two\rline three\r\n"
    )
    parsed = parse(raw)

    assert parsed.subject == "xy"
    assert parsed.text == "line one\ttab\nline two\nline three"


def test_long_body_is_cut_with_a_marker() -> None:
    body = ("字" * (MAX_TEXT_CHARS + 10)).encode()
    raw = raw_mail("From: a@mail.example", "Content-Type: text/plain; charset=utf-8", body=body)

    assert parse(raw).text == "字" * MAX_TEXT_CHARS + "\n" + TRUNCATION_MARKER


# --- unreadable and hostile input ------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"", "empty"),
        (b" \r\n\t\n", "empty"),
        (b"just some words, no header at all\n", "not an email: no header fields"),
        (b"\x00\x01\x02\xff binary", "not an email: no header fields"),
        (nested_multipart(5000), "MIME parts nested too deeply"),
        (b"Subject: x\n\n" + b"a" * (25 * MB), "too large: 25.0 MB"),
    ],
    ids=["empty", "whitespace", "prose", "binary", "nested-5000", "too-large"],
)
def test_unreadable_bytes_raise_mail_unreadable_with_a_reason(raw: bytes, reason: str) -> None:
    with pytest.raises(MailUnreadable) as raised:
        parse(raw)
    assert str(raised.value) == reason


def test_truncated_mime_keeps_what_arrived() -> None:
    raw = raw_mail(
        "From: a@mail.example",
        "Content-Type: multipart/mixed; boundary=sep",
        body=b"--sep\nContent-Type: text/plain\nContent-Transfer-Encoding: base64\n\nSGVsbG8",
    )
    parsed = parse(raw)

    assert parsed.text == "Hello"
    assert parsed.problems == (
        "malformed message: A start boundary was found, but not the corresponding close boundary",
        "malformed text/plain: base64 encoded sequence had an incorrect length",
    )


def test_multipart_without_boundary_is_read_as_plain_text() -> None:
    raw = raw_mail(
        "From: a@mail.example",
        "Content-Type: multipart/mixed",
        body=b"--x\nContent-Type: text/plain\n\nhello\n--x--\n",
    )
    parsed = parse(raw)

    assert parsed.text == "--x\nContent-Type: text/plain\n\nhello\n--x--"
    assert parsed.problems == (
        "malformed message: A message claimed to be a multipart but had no boundary parameter",
        "malformed message: A message claimed to be a multipart but no subparts were found",
    )


def test_multipart_nested_100_levels_deep_is_read() -> None:
    assert parse(nested_multipart(100)).text == "deep"


def hostile_messages() -> dict[str, bytes]:
    sample = EmailMessage()
    sample["From"] = '"=?gb2312?b?1dTI/Q==?=" <zhao@mail.example>'
    sample["Subject"] = "=?utf-8?q?caf=C3=A9?="
    sample.set_content("body 正文")
    sample.add_alternative("<p>html <![if x]>body</p>", subtype="html")
    sample.add_attachment(b"%PDF" * 100, maintype="application", subtype="pdf", filename="a.pdf")
    whole = sample.as_bytes()
    rng = random.Random(5)
    messages = {f"random-{seed}": random.Random(seed).randbytes(4096) for seed in range(3)} | {
        f"random-after-headers-{seed}": b"From: a@mail.example\n"
        b"Content-Type: multipart/mixed; boundary=x\n\n" + random.Random(seed).randbytes(4096)
        for seed in range(3)
    }
    messages |= {f"truncated-at-{cut}": whole[:cut] for cut in rng.sample(range(len(whole)), 8)}
    messages |= {
        "missing-boundary": raw_mail("Content-Type: multipart/alternative", body=whole),
        "wrong-boundary": raw_mail("Content-Type: multipart/mixed; boundary=nope", body=whole),
        "nested-100": nested_multipart(100),
        "nested-1200": nested_multipart(1200),
        "subject-1mb": raw_mail("Subject: " + "a" * MB),
        "encoded-words-1mb": raw_mail("Subject: " + "=?x?q?" * (MB // 6)),
        "from-1mb": raw_mail("From: " + "a@b, " * (MB // 5)),
        "from-nested-comments": raw_mail("From: " + "(" * 5000 + "a@b.example"),
        "from-angle-brackets": raw_mail("From: " + "<" * MB),
        "references-1mb": raw_mail("References: " + "<a@b> " * (MB // 6)),
        "content-type-params-1mb": raw_mail(
            "Content-Type: multipart/mixed" + "; a=b" * (MB // 5), body=whole
        ),
        "nul-in-headers": b"From: a\x00b@mail.example\nSub\x00ject: x\nSubject: \x00\n\nbody",
        "8bit-content-type": raw_mail(
            b"Content-Type: text/plain; charset=\xff\xfe\x00", body=whole
        ),
        "charset-uu": raw_mail("Content-Type: text/plain; charset=uu", body=b"x"),
        "charset-nul": raw_mail(b'Content-Type: text/plain; charset="utf\x00-8"', body=b"x"),
        "html-hostile": raw_mail(
            "Content-Type: text/html",
            body=b"<![ x" * 20000 + b"<a " * 20000 + b"</" * 20000 + b"<!--",
        ),
        "html-huge": raw_mail("Content-Type: text/html", body=b"<b>" * (3 * MB)),
        "bad-dates": raw_mail("Date: Tue, 02 Jan 9999 23:59:59 -2359", "Date: 0"),
        "only-a-header": b"Subject: x",
        "unix-from-line": b"From sender@mail.example Tue Jan  2 09:30:00 2024\n" + whole,
    }
    return messages


HOSTILE = hostile_messages()


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_input_gives_a_parsed_mail_or_mail_unreadable_only(name: str) -> None:
    try:
        parsed = parse(HOSTILE[name])
    except MailUnreadable as error:
        assert str(error)
        assert "\n" not in str(error)
        return
    assert len(parsed.text) <= MAX_TEXT_CHARS + 1 + len(TRUNCATION_MARKER)
    assert len(parsed.subject) <= 300
    assert len(parsed.problems) <= 20
    assert "\x00" not in parsed.text + parsed.subject + parsed.sender_name


# --- automatic mail --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        (["Auto-Submitted: auto-replied"], "Auto-Submitted: auto-replied"),
        (["Auto-Submitted: Auto-Generated; owner=x@y"], "Auto-Submitted: auto-generated"),
        (["Precedence: bulk"], "Precedence: bulk"),
        (["Precedence: junk"], "Precedence: junk"),
        (["Precedence: list"], "Precedence: list"),
        (["Precedence: auto_reply"], "Precedence: auto_reply"),
        (["X-Autoreply: yes"], "X-Autoreply header"),
        (["X-Autorespond: vacation"], "X-Autorespond header"),
        (["X-Auto-Response-Suppress: All"], "X-Auto-Response-Suppress: all"),
        (["X-Auto-Response-Suppress: AutoReply"], "X-Auto-Response-Suppress: autoreply"),
        (["X-Auto-Response-Suppress: OOF"], "X-Auto-Response-Suppress: oof"),
        (["X-Auto-Response-Suppress: DR, RN, NRN"], "X-Auto-Response-Suppress: dr"),
        (["List-Id: Offers <offers.bank.example>"], "mailing list (List-Id header)"),
        (["List-Unsubscribe: <mailto:out@bank.example>"], "mailing list (List-Unsubscribe header)"),
        (["Return-Path: <>"], "empty Return-Path <>: a bounce or an automatic notification"),
        (
            ["X-Credit-Care-Loop: ticket 12"],
            "mail loop: our own X-Credit-Care-Loop header came back",
        ),
    ],
)
def test_automatic_mail_is_recognised(headers: list[str], reason: str) -> None:
    raw = raw_mail("From: customer@mail.example", "Subject: Re: your complaint", *headers)
    assert parse(raw).automatic == reason


@pytest.mark.parametrize(
    ("from_line", "reason"),
    [
        ("From: MAILER-DAEMON@mx.mail.example", "sent by the mail system (mailer-daemon)"),
        ("From: Mail Delivery <Postmaster@mx.example>", "sent by the mail system (postmaster)"),
        (
            "From: MAILER-DAEMON (Mail Delivery Subsystem)",
            "sent by the mail system (mailer-daemon)",
        ),
    ],
)
def test_mail_system_senders_are_automatic(from_line: str, reason: str) -> None:
    assert parse(raw_mail(from_line, "Subject: Undelivered Mail")).automatic == reason


@pytest.mark.parametrize(
    "header",
    [
        "Auto-Submitted: no",
        "Precedence: first-class",
        "X-Auto-Response-Suppress: RN, NRN",
        "Return-Path: <customer@mail.example>",
        "X-Mailer: Foxmail 7",
    ],
)
def test_human_mail_is_not_automatic(header: str) -> None:
    assert parse(raw_mail("From: customer@mail.example", header)).automatic is None


DELIVERY_STATUS = (
    b"--b\nContent-Type: text/plain\n\nYour message could not be delivered.\n"
    b"--b\nContent-Type: message/delivery-status\n\n"
    b"Reporting-MTA: dns; mx.mail.example\n\nFinal-Recipient: rfc822; gone@mail.example\n"
    b"Action: failed\nStatus: 5.1.1\n"
    b"--b--\n"
)


def test_delivery_status_notification_is_automatic() -> None:
    raw = raw_mail(
        "From: Mail Delivery <bounces@mx.mail.example>",
        "Content-Type: multipart/report; report-type=delivery-status; boundary=b",
        body=DELIVERY_STATUS,
    )
    parsed = parse(raw)

    assert parsed.automatic == "delivery status or read report"
    assert parsed.text == "Your message could not be delivered."


def test_read_receipt_part_is_automatic_even_outside_multipart_report() -> None:
    raw = raw_mail(
        "From: customer@mail.example",
        "Content-Type: multipart/mixed; boundary=b",
        body=b"--b\nContent-Type: text/plain\n\nRead.\n"
        b"--b\nContent-Type: message/disposition-notification\n\n"
        b"Final-Recipient: rfc822; customer@mail.example\nDisposition: manual-action/MDN-sent\n"
        b"--b--\n",
    )
    assert parse(raw).automatic == "delivery status or read report"


def test_a_bounce_forwarded_by_a_customer_is_not_automatic() -> None:
    bounce = (
        b"From: bounces@mx.mail.example\n"
        b"Content-Type: multipart/report; report-type=delivery-status; boundary=b\n\n"
        + DELIVERY_STATUS
    )
    raw = raw_mail(
        "From: customer@mail.example",
        "Content-Type: multipart/mixed; boundary=outer",
        body=b"--outer\nContent-Type: text/plain\n\nYour reply to me bounced, see below.\n"
        b"--outer\nContent-Type: message/rfc822\n\n" + bounce + b"--outer--\n",
    )
    parsed = parse(raw)

    assert parsed.automatic is None
    assert parsed.text == "Your reply to me bounced, see below."


def test_our_own_address_as_sender_is_a_loop_whatever_its_case() -> None:
    raw = raw_mail("From: Care <Complaints@Lender.Example>", "Subject: Your complaint")
    parsed = parse(raw, own_addresses=frozenset({"complaints@lender.example"}))

    assert parsed.automatic == "mail loop: sent from our own address Complaints@lender.example"
    assert parse(raw).automatic is None


def test_the_loop_header_name_is_the_callers() -> None:
    ours = raw_mail("From: customer@mail.example", "X-Other-Loop: 1")
    default = raw_mail("From: customer@mail.example", "X-Credit-Care-Loop: 1")

    assert parse(ours, loop_header="X-Other-Loop").automatic == (
        "mail loop: our own X-Other-Loop header came back"
    )
    assert parse(default, loop_header="X-Other-Loop").automatic is None


# --- quoted replies --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "new_part"),
    [
        ("Thanks, resolved.\n\n> We refunded the fee.\n> Regards", "Thanks, resolved."),
        (
            "Still not refunded.\n\nOn Mon, 1 Jan 2024 at 10:00, Credit Care "
            "<care@lender.example> wrote:\n> Dear customer,\n> we are looking into it.\n",
            "Still not refunded.",
        ),
        (
            "Still waiting.\n\nOn Mon, 1 Jan 2024 at 10:00, Credit Care Complaints Team <\n"
            "complaints@lender.example> wrote:\n\n> Dear customer",
            "Still waiting.",
        ),
        (
            "Please call me.\n\n-----Original Message-----\nFrom: Credit Care\nSent: Monday\n"
            "To: me\nSubject: Your complaint\n\nDear customer",
            "Please call me.",
        ),
        (
            "Please call me.\n\n________________________________\n"
            "From: Credit Care <care@lender.example>\nSent: Monday, 1 January 2024 10:00\n"
            "To: Wang <wang@mail.example>\nSubject: RE: complaint\n\nDear customer",
            "Please call me.",
        ),
        (
            "还没有退款。\n\n在 2024年1月1日 10:00，Credit Care <care@lender.example> 写道：\n\n"
            "> 尊敬的客户",
            "还没有退款。",
        ),
        (
            "还没有退款。\n\nCredit Care <care@lender.example> 于2024年1月1日周一 10:00写道：\n"
            "> 尊敬的客户",
            "还没有退款。",
        ),
        (
            "请尽快处理。\n\n------------------ 原始邮件 ------------------\n"
            '发件人: "Credit Care"<care@lender.example>;\n'
            "发送时间: 2024年1月1日(星期一) 上午10:00\n"
            '收件人: "王"<wang@mail.example>;\n主题: 回复：投诉\n\n尊敬的客户',
            "请尽快处理。",
        ),
        (
            "请尽快处理。\n\n发件人：Credit Care <care@lender.example>\n"
            "发送时间：2024年1月1日 10:00\n收件人：王\n主题：投诉\n\n尊敬的客户",
            "请尽快处理。",
        ),
    ],
    ids=[
        "quote-marks",
        "on-wrote",
        "on-wrote-wrapped",
        "original-message",
        "outlook-block",
        "zai-xiedao",
        "yu-xiedao",
        "qq-original",
        "outlook-chinese",
    ],
)
def test_quoted_history_is_dropped(text: str, new_part: str) -> None:
    assert strip_quoted_reply(text) == new_part


@pytest.mark.parametrize(
    "text",
    [
        "Just a complaint.\nNo quotes here.\n\n",
        "On Monday I phoned you twice.",
        "I wrote: please call me",
        "",
    ],
)
def test_text_without_quotes_is_returned_unchanged(text: str) -> None:
    assert strip_quoted_reply(text) == text


@pytest.mark.parametrize(
    "text",
    [
        "> only quoted\n> text",
        "On Mon, 1 Jan 2024, Care <care@lender.example> wrote:\n> quoted",
        "-----Original Message-----\nFrom: a\nSent: b",
    ],
)
def test_all_quote_is_returned_as_it_is(text: str) -> None:
    assert strip_quoted_reply(text) == text


def test_an_answer_between_quotes_is_kept() -> None:
    text = (
        "Answers below.\n\nOn Mon, 1 Jan 2024, Care <care@lender.example> wrote:\n"
        "> Did you pay twice?\nYes, twice.\n> On which day?\nOn 3 January."
    )
    assert strip_quoted_reply(text) == text


@pytest.mark.parametrize(
    ("from_value", "problem"),
    [
        ("(" * 5000 + "wang@mail.example", "From header could not be read"),
        (
            "wang@mail.example, " + "x@mail.example, " * 5000,
            "From header too long: only its first addresses read",
        ),
    ],
)
def test_unreadable_address_headers_become_problems(from_value: str, problem: str) -> None:
    parsed = parse(raw_mail(f"From: {from_value}", "Subject: hello"))

    assert parsed.subject == "hello"
    assert parsed.problems == (problem,)
