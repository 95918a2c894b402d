"""Demo customers with their search terms, credit accounts, contacts and follow-ups.

Customers are generated in chunks: each chunk's rows for every table are built in memory (one
customer at a time, so its last contact is known when its row is written) and then inserted
with `bulk_insert`, parents first. Ids are assigned here, after the tables' current maximum,
so that child rows can point at their parents without reading anything back; PostgreSQL's
sequences are moved past them at the end.
"""

from __future__ import annotations

from bisect import bisect
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import func, select, text
from tqdm import tqdm

from portal.accounts.models import User
from portal.core.access import Role
from portal.core.extensions import db, dialect_name
from portal.customers.models import (
    AccountStatus,
    Channel,
    CreditAccount,
    Customer,
    CustomerSearchTerm,
    Direction,
    FollowUp,
    FollowUpStatus,
    Interaction,
    Outcome,
    Product,
    Segment,
)
from portal.customers.search import reversed_digits, search_terms
from portal.demo.base import (
    COMPOUND_SURNAMES,
    ENGLISH_FIRST,
    ENGLISH_LAST,
    GIVEN,
    SURNAMES,
    SeedContext,
    bulk_insert,
    pick,
    with_check_character,
)

LONG_HISTORY_CUSTOMER = "C99999999"
LONG_HISTORY_NAME = "历长青"
DEMO_RM_EMAIL = "rm@demo.example.com"


@dataclass(frozen=True)
class Volume:
    customers: int  # including the long-history customer
    long_history: int  # contacts of the long-history customer


VOLUMES = {"small": Volume(300, 200), "large": Volume(100_000, 10_000)}
CHUNK = 5_000  # customers whose rows are built and inserted together
HISTORY_DAYS = 730
DEMO_RM_WEIGHT = 1.6  # other RMs draw 0.6-1.4: the demo RM's book is among the biggest
# Open follow-ups the demo RM always has, in days from today: three overdue, two due today.
DEMO_RM_DUE = (-6, -3, -1, 0, 0)

# ---------------------------------------------------------------- addresses and ID numbers

EMAIL_DOMAINS = ("mail.example.com", "example.cn", "post.example.net", "inbox.example.org")

# Resident ID region codes (district level) for realistic 18-character ID numbers.
REGIONS = (  # noqa: SIM905  (a word list reads better than 20 quoted items)
    "110101 110105 310101 310115 440103 440305 330106 320102 510104 420102 610113 120101 "
    "370202 350203 430104 500103 210102 230102 410105 530102"
).split()


def id_number(region: str, birthday: date, sequence: int) -> str:
    """An 18-character resident ID with a valid ISO 7064 MOD 11-2 check character."""
    return with_check_character(f"{region}{birthday:%Y%m%d}{sequence:03d}")


# ---------------------------------------------------------------- contact texts

ZH_CHANNEL = {"call": "电话", "visit": "面谈", "email": "邮件", "chat": "在线", "sms": "短信"}
EN_CHANNEL = {"call": "Call", "visit": "Visit", "email": "Email", "chat": "Chat", "sms": "SMS"}
ZH_PRODUCTS = ("信用卡", "个人贷款", "房贷", "车贷")
EN_PRODUCTS = ("credit card", "personal loan", "mortgage", "car loan")
ZH_TOPICS = (
    "账单分期",
    "提前还款",
    "额度调整",
    "自动还款设置",
    "利率优惠",
    "还款计划",
    "信用卡年费",
    "逾期费用减免",
    "联系方式更新",
    "电子账单",
)
EN_TOPICS = (
    "instalment plans",
    "early repayment",
    "a limit increase",
    "direct debit set-up",
    "a rate review",
    "the repayment plan",
    "the annual fee",
    "late-fee waivers",
    "updating contact details",
    "paperless statements",
)
ZH_DAYS = ("明天", "后天", "周一", "周三", "周五", "下周", "月底前", "下个月初")
EN_DAYS = ("tomorrow", "on Monday", "on Wednesday", "on Friday", "next week", "by month end")
ZH_SUMMARIES = {
    "reached": (
        "{ch}联系客户，介绍{topic}，客户表示会考虑。",
        "{ch}沟通{product}还款安排，客户确认{day}还款{amount}元。",
        "{ch}回访{product}使用情况，客户整体满意。",
        "与客户核对{product}账单，无异议。",
    ),
    "no_answer": (
        "{ch}联系未果，客户未回应，计划{day}再试。",
        "拨打客户预留号码无人接听。",
    ),
    "left_message": (
        "未联系上客户，已留言提醒{product}还款日。",
        "已留言，请客户回电讨论{topic}。",
    ),
    "resolved": (
        "客户咨询{topic}，已当场解答，问题已解决。",
        "协助客户处理{product}账单疑问，已解决。",
        "{ch}为客户办理{topic}，已完成。",
    ),
    "follow_up": (
        "客户希望了解{topic}，约定{day}再次联系。",
        "客户需要时间考虑{product}调整方案，{day}跟进。",
        "{ch}沟通{topic}，客户需提供材料，{day}跟进。",
    ),
    "declined": (
        "客户婉拒{topic}推荐。",
        "客户表示暂不需要{topic}。",
    ),
}
EN_SUMMARIES = {
    "reached": (
        "{ch}: talked the customer through {topic}; they will think it over.",
        "{ch}: agreed the {product} repayment; customer will pay {amount} {day}.",
        "{ch}: checked in on the {product}; customer is happy with the service.",
        "Went through the {product} statement with the customer; no issues.",
    ),
    "no_answer": (
        "{ch}: no response; will try again {day}.",
        "Tried the number on file, no answer.",
    ),
    "left_message": (
        "Left a message reminding the customer of the {product} due date.",
        "Left a voicemail asking the customer to call back about {topic}.",
    ),
    "resolved": (
        "Customer asked about {topic}; answered and resolved.",
        "Helped the customer with a {product} statement query; resolved.",
        "{ch}: set up {topic} for the customer; done.",
    ),
    "follow_up": (
        "Customer wants details on {topic}; agreed to follow up {day}.",
        "Customer needs time to consider the {product} options; follow up {day}.",
        "{ch}: {topic} needs documents from the customer; follow up {day}.",
    ),
    "declined": (
        "Customer declined the offer of {topic}.",
        "Customer not interested in {topic} for now.",
    ),
}
ZH_NOTES = ("回电确认{topic}", "跟进{product}还款", "发送{topic}资料", "确认客户材料是否齐全")
EN_NOTES = (
    "Call back about {topic}",
    "Chase the {product} repayment",
    "Send details of {topic}",
    "Check the customer's documents arrived",
)
VARIANTS = 24  # pre-rendered texts per (language, channel, outcome)


SEGMENTS = pick(
    {
        Segment.MASS.value: 70,
        Segment.AFFLUENT.value: 20,
        Segment.PRIVATE.value: 5,
        Segment.SMALL_BUSINESS.value: 5,
    }
)
ZH_TIMEZONES = pick({"Asia/Shanghai": 92, "Asia/Hong_Kong": 7, "Europe/London": 1})
EN_TIMEZONES = pick(
    {"Asia/Shanghai": 55, "Asia/Hong_Kong": 20, "Europe/London": 15, "America/New_York": 10}
)
CHANNELS = pick({"call": 45, "email": 18, "chat": 14, "sms": 12, "visit": 11})
OUTBOUND_SHARE = {"call": 0.75, "visit": 0.5, "email": 0.6, "chat": 0.3, "sms": 0.95}
OUTCOMES = {
    "call": pick(
        {
            "reached": 45,
            "no_answer": 20,
            "left_message": 12,
            "resolved": 10,
            "follow_up": 10,
            "declined": 3,
        }
    ),
    "visit": pick({"reached": 55, "resolved": 20, "follow_up": 20, "declined": 5}),
    "email": pick({"reached": 40, "resolved": 25, "follow_up": 15, "no_answer": 15, "declined": 5}),
    "chat": pick({"reached": 35, "resolved": 45, "follow_up": 15, "declined": 5}),
    "sms": pick({"reached": 50, "no_answer": 30, "follow_up": 10, "resolved": 10}),
}
PRODUCT_MIX = {
    Segment.MASS.value: pick(
        {"credit_card": 45, "personal_loan": 30, "auto_loan": 15, "mortgage": 10}
    ),
    Segment.AFFLUENT.value: pick(
        {"credit_card": 35, "personal_loan": 15, "auto_loan": 20, "mortgage": 30}
    ),
    Segment.PRIVATE.value: pick(
        {"credit_card": 30, "personal_loan": 10, "auto_loan": 15, "mortgage": 45}
    ),
    Segment.SMALL_BUSINESS.value: pick(
        {"credit_card": 30, "personal_loan": 50, "auto_loan": 15, "mortgage": 5}
    ),
}
# product: (account number prefix, lowest and highest principal in yuan, step, term in months)
PRODUCTS = {
    Product.CREDIT_CARD.value: ("CC", 5_000, 200_000, 1_000, 0),
    Product.PERSONAL_LOAN.value: ("PL", 10_000, 500_000, 1_000, 36),
    Product.AUTO_LOAN.value: ("AL", 50_000, 500_000, 5_000, 60),
    Product.MORTGAGE.value: ("ML", 300_000, 6_000_000, 10_000, 360),
}


def _cents(value: int) -> Decimal:
    return Decimal(value).scaleb(-2)


# ---------------------------------------------------------------- the generator


@dataclass
class _Rows:
    customers: list[dict[str, Any]] = field(default_factory=list)
    terms: list[dict[str, Any]] = field(default_factory=list)
    accounts: list[dict[str, Any]] = field(default_factory=list)
    interactions: list[dict[str, Any]] = field(default_factory=list)
    follow_ups: list[dict[str, Any]] = field(default_factory=list)

    def insert(self, ctx: SeedContext) -> None:
        """Parents first, so that every foreign key holds on PostgreSQL and SQLite alike.

        The tables, not the mapped classes, are given to `bulk_insert`: an ORM bulk insert
        splits a batch wherever the set of NULL columns changes from one row to the next
        (nearly every row for customers), while a Core insert sends each batch in one go.
        """
        for model, rows, desc in (
            (Customer, self.customers, "customers"),
            (CustomerSearchTerm, self.terms, "search terms"),
            (CreditAccount, self.accounts, "credit accounts"),
            (Interaction, self.interactions, "interactions"),
            (FollowUp, self.follow_ups, "follow-ups"),
        ):
            bulk_insert(ctx, model.__table__, rows, len(rows), desc)


class _Generator:
    def __init__(self, ctx: SeedContext, owners: Sequence[int], demo_rm: int | None) -> None:
        self.ctx = ctx
        self.rng = ctx.rng
        self.now = ctx.now
        zone = ZoneInfo(current_app.config.get("DEFAULT_TIMEZONE") or "Asia/Shanghai")
        self.today = ctx.now.astimezone(zone).date()
        # Contacts fall in office hours of the portal's zone: seconds after local midnight.
        self.midnight = datetime.combine(self.today, time(), tzinfo=zone).astimezone(UTC)
        self.weekday = self.today.weekday()
        self.owners = list(owners)
        self.demo_rm = demo_rm
        weights = [
            DEMO_RM_WEIGHT if owner == demo_rm else self.rng.uniform(0.6, 1.4)
            for owner in self.owners
        ]
        total = sum(weights)
        running = 0.0
        self.owner_cumulative = []
        for weight in weights:
            running += weight
            self.owner_cumulative.append(running / total)
        self.demo_due = list(DEMO_RM_DUE)
        self.phones: set[str] = set()
        self.id_numbers: set[str] = set()
        self.terms_cache: dict[str, list[str]] = {}
        self.next_id = {
            model: (db.session.scalar(select(func.max(model.id))) or 0) + 1
            for model in (Customer, CreditAccount, Interaction, FollowUp)
        }
        self.summaries = {
            (lang, ch.value, out.value): self._render_summaries(lang, ch.value, out.value)
            for lang in ("zh", "en")
            for ch in Channel
            for out in Outcome
        }
        self.notes = {
            "zh": [self._fill("zh", self.rng.choice(ZH_NOTES), "call") for _ in range(VARIANTS)],
            "en": [self._fill("en", self.rng.choice(EN_NOTES), "call") for _ in range(VARIANTS)],
        }

    # -- texts

    def _fill(self, lang: str, template: str, channel: str) -> str:
        rng = self.rng
        if lang == "zh":
            product, topic, day = ZH_PRODUCTS, ZH_TOPICS, ZH_DAYS
            ch, amount = ZH_CHANNEL[channel], f"{rng.randrange(500, 30_000, 100):,}"
        else:
            product, topic, day = EN_PRODUCTS, EN_TOPICS, EN_DAYS
            ch, amount = EN_CHANNEL[channel], f"CNY {rng.randrange(500, 30_000, 100):,}"
        return template.format(
            ch=ch,
            product=rng.choice(product),
            topic=rng.choice(topic),
            day=rng.choice(day),
            amount=amount,
        )

    def _render_summaries(self, lang: str, channel: str, outcome: str) -> list[str]:
        templates = (ZH_SUMMARIES if lang == "zh" else EN_SUMMARIES).get(outcome) or ("-",)
        return [self._fill(lang, self.rng.choice(templates), channel) for _ in range(VARIANTS)]

    # -- people

    def _name(self) -> tuple[str, str, str]:
        """(name, language, email local part stem)."""
        rng = self.rng
        if rng.random() < 0.6:
            surname = rng.choice(COMPOUND_SURNAMES) if rng.random() < 0.01 else None
            if surname is None:
                # Common surnames are much commoner: favour the front of the list.
                surname = SURNAMES[int(len(SURNAMES) * rng.random() ** 2)]
            given = "".join(rng.choices(GIVEN, k=1 if rng.random() < 0.3 else 2))
            return surname + given, "zh", ""
        first, last = rng.choice(ENGLISH_FIRST), rng.choice(ENGLISH_LAST)
        return f"{first} {last}", "en", f"{first}.{last}".lower()

    def _birthday(self, index: int) -> date | None:
        rng = self.rng
        if index in (17, 117, 217):  # a leap-day birthday in every scale
            leap = [y for y in range(self.today.year - 78, self.today.year - 21) if y % 4 == 0]
            return date(rng.choice(leap), 2, 29)
        if rng.random() < 0.05:
            return None
        age_days = int(rng.triangular(20, 80, 36) * 365.2425)
        return date.fromordinal(self.today.toordinal() - age_days)

    def _phone(self) -> str:
        while True:
            phone = f"1{self.rng.randint(3, 9)}{self.rng.randrange(10**9):09d}"
            if phone not in self.phones:
                self.phones.add(phone)
                return phone

    def _id_number(self, birthday: date) -> str:
        while True:
            value = id_number(self.rng.choice(REGIONS), birthday, self.rng.randrange(1000))
            if value not in self.id_numbers:
                self.id_numbers.add(value)
                return value

    def _owner(self) -> int | None:
        if not self.owners:
            return None
        index = bisect(self.owner_cumulative, self.rng.random())
        return self.owners[min(index, len(self.owners) - 1)]

    def _take(self, model: Any) -> int:
        value = self.next_id[model]
        self.next_id[model] = value + 1
        return value

    # -- one customer and everything about them

    def customer(self, index: int, rows: _Rows, *, long_history: int = 0) -> None:
        rng, now = self.rng, self.now
        customer_id = self._take(Customer)
        if long_history:
            number, name, lang, stem = LONG_HISTORY_CUSTOMER, LONG_HISTORY_NAME, "zh", ""
            owner = self.demo_rm if self.demo_rm is not None else self._owner()
            created = now - timedelta(days=3 * 365)
        else:
            number = f"C{customer_id:08d}"
            name, lang, stem = self._name()
            owner = self._owner()
            created = now - timedelta(days=rng.randint(30, 3650), seconds=rng.randrange(86_400))
        birthday = self._birthday(index)
        segment = SEGMENTS(rng.random())
        flags = {
            "in_arrears": rng.random() < 0.04,
            "hardship": rng.random() < 0.01,
            "vulnerable": rng.random() < 0.02,
            "deceased": rng.random() < 0.003,
            "do_not_contact": rng.random() < 0.01,
        }
        if long_history:
            flags = dict.fromkeys(flags, False)
        email = None
        if rng.random() < 0.85:
            domain = rng.choice(EMAIL_DOMAINS)
            email = f"{stem}{customer_id}@{domain}" if stem else f"{number.lower()}@{domain}"
        phone = self._phone() if rng.random() < 0.90 else None
        identity = None
        if birthday is not None and rng.random() < 0.70 / 0.95:
            identity = self._id_number(birthday)
        timezone = (ZH_TIMEZONES if lang == "zh" else EN_TIMEZONES)(rng.random())

        count = long_history or self._contact_count(flags["deceased"])
        start = max(created, now - timedelta(days=HISTORY_DAYS)).replace(microsecond=0)
        last_contact, last_interaction = self._interactions(
            rows, customer_id, owner, lang, start, count
        )
        rows.customers.append(
            {
                "id": customer_id,
                "number": number,
                "name": name,
                "email": email,
                "phone": phone,
                "phone_reversed": reversed_digits(phone),
                "id_number": identity,
                "birthday": birthday,
                "locale": "zh_Hans" if lang == "zh" else "en",
                "timezone": timezone,
                "segment": segment,
                "owner_id": owner,
                "consent_care": rng.random() < 0.60,
                "consent_survey": rng.random() < 0.85,
                "consent_service": rng.random() < 0.97,
                **flags,
                "last_contact_at": last_contact,
                "version": 1,
                "created_at": created,
                "updated_at": max(created, last_contact or created),
            }
        )
        terms = self.terms_cache.get(name)
        if terms is None:
            terms = self.terms_cache[name] = sorted(search_terms(name))
        rows.terms.extend({"term": term, "customer_id": customer_id} for term in terms)
        self._accounts(rows, customer_id, segment, flags["in_arrears"], created, timezone)
        if not flags["deceased"]:
            self._follow_ups(rows, customer_id, owner, lang, start, last_interaction)

    def _contact_count(self, deceased: bool) -> int:
        """About ten on average, skewed: a tenth have none, a few have well over fifty."""
        rng = self.rng
        if rng.random() < 0.10:
            return 0
        count = 1 + int(rng.expovariate(1 / 10.8))
        return min(count, 3) if deceased else min(count, 150)

    def _instant(self, start: datetime) -> datetime:
        """A moment between `start` and now, in office hours on most days (weekdays mostly)."""
        rng, now = self.rng, self.now
        span = max((now - start).days, 1)
        days = rng.randrange(span + 1)
        if (self.weekday - days) % 7 >= 5 and rng.random() < 0.7:
            days += 2  # most weekend contacts move to the Thursday or Friday before
        day = self.midnight - timedelta(days=days)
        moment = day + timedelta(seconds=rng.randint(8 * 3600 + 1800, 19 * 3600))
        if moment > now:
            moment -= timedelta(days=1)
        return max(moment, start)

    def _interactions(
        self,
        rows: _Rows,
        customer_id: int,
        owner: int | None,
        lang: str,
        start: datetime,
        count: int,
    ) -> tuple[datetime | None, tuple[int, datetime] | None]:
        if count == 0:
            return None, None
        rng = self.rng
        moments = sorted(self._instant(start) for _ in range(count))
        summaries = self.summaries
        append = rows.interactions.append
        interaction_id = 0
        for moment in moments:
            channel = CHANNELS(rng.random())
            outbound = rng.random() < OUTBOUND_SHARE[channel]
            outcome = OUTCOMES[channel](rng.random())
            if not outbound and outcome in ("no_answer", "left_message"):
                outcome = "reached"
            interaction_id = self._take(Interaction)
            logged = moment + timedelta(seconds=rng.randrange(60, 1800))
            append(
                {
                    "id": interaction_id,
                    "customer_id": customer_id,
                    "author_id": owner,
                    "channel": channel,
                    "direction": (Direction.OUTBOUND if outbound else Direction.INBOUND).value,
                    "occurred_at": moment,
                    "summary": rng.choice(summaries[lang, channel, outcome]),
                    "outcome": outcome,
                    "edited_at": None,
                    "created_at": min(logged, self.now),
                    "updated_at": min(logged, self.now),
                }
            )
        return moments[-1], (interaction_id, moments[-1])

    def _accounts(
        self,
        rows: _Rows,
        customer_id: int,
        segment: str,
        in_arrears: bool,
        created: datetime,
        timezone: str,
    ) -> None:
        rng, today = self.rng, self.today
        count = 1 + (rng.random() < 0.45) + (rng.random() < 0.33)
        first_day = created.date().toordinal()
        last_day = max(today.toordinal() - 30, first_day)
        for position in range(count):
            product = PRODUCT_MIX[segment](rng.random())
            prefix, low, high, step, term = PRODUCTS[product]
            scale = 3 if segment == Segment.PRIVATE.value else 1
            principal = rng.randrange(low, high + 1, step) * scale * 100  # cents
            if in_arrears and position == 0:
                status = AccountStatus.IN_ARREARS.value
            elif rng.random() < 0.07:
                status = AccountStatus.CLOSED.value
            else:
                status = AccountStatus.ACTIVE.value
            if status == AccountStatus.CLOSED.value:
                balance, due_on, due_amount = 0, None, None
            else:
                share = rng.uniform(0.05, 0.8) if term == 0 else rng.uniform(0.1, 0.97)
                balance = int(principal * share)
                instalment = max(balance // 10, 10_000) if term == 0 else principal // term
                if status == AccountStatus.IN_ARREARS.value:
                    overdue = rng.randint(5, 120)
                    due_on = today - timedelta(days=overdue)
                    due_amount = _cents(instalment * (1 + overdue // 30))
                else:
                    due_on = today + timedelta(days=rng.randint(1, 40))
                    due_amount = _cents(instalment)
            opened = date.fromordinal(rng.randint(first_day, last_day))
            opened_at = datetime.combine(opened, time(2, 0), tzinfo=UTC)
            rows.accounts.append(
                {
                    "id": self._take(CreditAccount),
                    "customer_id": customer_id,
                    "number": f"{prefix}{customer_id:09d}{position + 1:02d}",
                    "product": product,
                    "currency": "HKD" if timezone == "Asia/Hong_Kong" else "CNY",
                    "principal": _cents(principal),
                    "balance": _cents(balance),
                    "next_due_on": due_on,
                    "next_due_amount": due_amount,
                    "status": status,
                    "opened_on": opened,
                    "created_at": opened_at,
                    "updated_at": self.now,
                }
            )

    def _follow_ups(
        self,
        rows: _Rows,
        customer_id: int,
        owner: int | None,
        lang: str,
        start: datetime,
        last_interaction: tuple[int, datetime] | None,
    ) -> None:
        rng, now, today = self.rng, self.now, self.today
        notes = self.notes[lang]

        def add(due_on: date, status: str, created: datetime, interaction: int | None) -> None:
            done = status == FollowUpStatus.DONE.value
            done_at = None
            if done:
                done_at = datetime.combine(due_on, time(3, 0), tzinfo=UTC) + timedelta(
                    hours=rng.randint(0, 48)
                )
                done_at = min(max(done_at, created), now)
            rows.follow_ups.append(
                {
                    "id": self._take(FollowUp),
                    "customer_id": customer_id,
                    "owner_id": owner,
                    "interaction_id": interaction,
                    "due_on": due_on,
                    "note": rng.choice(notes),
                    "status": status,
                    "done_at": done_at,
                    "done_by_id": owner if done else None,
                    "created_at": created,
                    "updated_at": done_at or created,
                }
            )

        def open_one(days: int) -> None:
            due_on = today + timedelta(days=days)
            recent = last_interaction is not None and (
                last_interaction[1].date() >= due_on - timedelta(days=30)
            )
            if last_interaction is not None and recent and rng.random() < 0.8:
                interaction, created = last_interaction  # promised during the last contact
            else:
                interaction = None
                created = now - timedelta(days=max(-days, 0) + rng.randint(1, 20))
            add(due_on, FollowUpStatus.OPEN.value, min(created, now), interaction)

        if owner is not None and owner == self.demo_rm and self.demo_due:
            open_one(self.demo_due.pop(0))
        elif rng.random() < 0.08:
            open_one(rng.randint(-10, 14))
        for _ in range((rng.random() < 0.15) + (rng.random() < 0.05)):
            created = self._instant(start)
            due_on = (created + timedelta(days=rng.randint(1, 14))).date()
            if due_on >= today:
                continue
            status = FollowUpStatus.DONE if rng.random() < 0.93 else FollowUpStatus.CANCELLED
            add(due_on, status.value, created, None)


def _finish(generator: _Generator) -> None:
    """Move PostgreSQL's sequences past the ids given here; refresh the planner's statistics.

    Without fresh statistics right after a bulk load, SQLite has none at all and PostgreSQL
    waits for autovacuum, and either may plan the first searches with the wrong index.
    """
    postgresql = dialect_name() == "postgresql"
    if postgresql:
        for model in (Customer, CreditAccount, Interaction, FollowUp):
            if generator.next_id[model] <= 1:
                continue
            table = model.__tablename__
            db.session.execute(
                text(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608
                    f"(SELECT max(id) FROM {table}))"
                )
            )
    for model in (User, Customer, CustomerSearchTerm, CreditAccount, Interaction, FollowUp):
        db.session.execute(text(f"ANALYZE {model.__tablename__}"))
    db.session.commit()


def seed_customers(ctx: SeedContext) -> None:
    volume = VOLUMES[ctx.scale]
    owners = list(
        db.session.scalars(select(User.id).where(User.role == Role.RM.value).order_by(User.id))
    )
    demo_rm = db.session.scalar(select(User.id).where(User.email == DEMO_RM_EMAIL))
    generator = _Generator(ctx, owners, demo_rm if demo_rm in owners else None)
    quiet = replace(ctx, show_progress=False)  # one bar here, not one per batch and table
    regular = volume.customers - 1
    with tqdm(
        total=volume.customers,
        desc="customers, accounts, contacts",
        unit="customers",
        disable=not ctx.show_progress,
    ) as bar:
        for first in range(0, regular, CHUNK):
            rows = _Rows()
            for index in range(first, min(first + CHUNK, regular)):
                generator.customer(index, rows)
            rows.insert(quiet)
            bar.update(len(rows.customers))
        rows = _Rows()
        generator.customer(regular, rows, long_history=volume.long_history)
        rows.insert(quiet)
        bar.update(1)
    _finish(generator)
