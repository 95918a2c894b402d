"""Demo reply templates, a few emails through inbound intake — a new complaint from
someone who is not a customer, an out-of-office reply, a message without a sender — and a
public-form complaint held as suspected spam (sent too fast), so that the ticket page's reply
box, the admin's inbound page and the handlers' suspected-spam page show something after
`./scripts/run`.
"""

from __future__ import annotations

from datetime import timedelta
from email.message import EmailMessage
from email.utils import make_msgid

from portal.demo.base import SeedContext
from portal.tickets.channels import inbound, replies, suspected_spam, webform
from portal.tickets.models import Trap

# A real complaint, typed fast (pasted from a note): the time trap holds it for review.
HELD = webform.WebSubmission(
    kind="complaint",
    about="credit_card",
    account_hint="card ending 8842",
    description=(
        "Card blocked while abroad\nMy card was blocked on my first day in Singapore although "
        "I had told the bank about the trip. I could not pay the hotel."
    ),
    request="Explain why it was blocked and refund the fee for the emergency transfer.",
    name="Zhao Lei",
    email="zhao.lei@mail.example.com",
    locale="en",
)

TEMPLATES = (
    (
        "Ask for documents",
        "en",
        None,
        "To look into {{ reference }} we need a copy of the statement or receipt concerned. "
        "Please reply to this email with it attached.\n\n"
        "We will give you our decision by {{ deadline }}.",
    ),
    (
        "请补充材料",
        "zh_Hans",
        None,
        "为核实您的投诉（{{ reference }}），请回复本邮件并附上相关账单或交易凭证。\n\n"
        "我们将在 {{ deadline }} 前给您处理决定。",
    ),
    (
        "Fee refund explained",
        "en",
        "C07",
        "We have checked the fee on your account. It was charged after your payment had "
        "reached us, so we are refunding it in full.",
    ),
    (
        "费用退还说明",
        "zh_Hans",
        "C07",
        "经核查，该笔费用系在您还款到账后收取，我们将全额退还。",
    ),
)


def _email(sender: str | None, subject: str, body: str, **headers: str) -> bytes:
    message = EmailMessage()
    if sender:
        message["From"] = sender
    message["To"] = "complaints@portal.invalid"
    message["Subject"] = subject
    message["Message-ID"] = make_msgid(domain="mail.example.com")
    for name, value in headers.items():
        message[name] = value
    message.set_content(body)
    return message.as_bytes()


def seed_channels(ctx: SeedContext) -> None:
    for name, locale, cause, body in TEMPLATES:
        replies.save(ctx.actor, None, replies.ReplyTemplateInput(name, locale, cause, body))
    ctx.counts["reply templates"] = len(TEMPLATES)
    emails = (
        _email(
            "Chen Jing <chen.jing@mail.example.com>",
            "Card fee charged twice",
            "I was charged the annual fee twice this month. Please refund one of them.",
        ),
        _email(
            "Chen Jing <chen.jing@mail.example.com>",
            "Automatic reply: Card fee charged twice",
            "I am out of the office until Monday.",
            **{"Auto-Submitted": "auto-replied"},
        ),
        _email(None, "(no sender)", "A message a mail server passed on without a sender."),
    )
    for raw in emails:
        inbound.ingest(raw, "pipe", ctx.now)
    ctx.counts["inbound emails"] = len(emails)
    suspected_spam.hold(
        HELD, suspected_spam.Caught(Trap.TOO_FAST, 1.4), now=ctx.now - timedelta(hours=3)
    )
    ctx.counts["held web submissions"] = 1
