"""Demo teams and tickets: complaints, feedback, inquiries and compliments with their history.

The small scale is a queue to click through: every status, kind and severity, tickets past
their deadline and tickets due today, a paused clock, extended clocks, a restarted one, notes
and responses in Chinese and English. The large scale is a firm's three years: 300,000
tickets, about 3.5 % of them still open (the recent ones, and a backlog of stuck ones), each with
its history of events.

Every stored deadline is what the tickets room's services would have stored: the clocks are
computed with the same functions (`clocks.deadlines`, `BusinessCalendar.add_business_hours`)
under the deployment's regulatory profile, the regulatory deadlines cached per receipt day,
as they depend on nothing else. Tickets get their ids and references in order of receipt and
the reference counters end at the last number given, so the next intake continues the
sequence. Rows go in by table in chunks, like the customers room's (portal/demo/customers.py).
"""

from __future__ import annotations

from bisect import bisect
from collections import deque
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, bindparam, func, insert, select, text, update
from tqdm import tqdm

from portal.accounts.models import User
from portal.core.access import Role
from portal.core.extensions import db, dialect_name
from portal.customers.models import CreditAccount, Customer
from portal.demo.customers import _pick
from portal.tickets import clocks, deadlines
from portal.tickets.jobs import WATCH_ACTOR
from portal.tickets.models import (
    OPEN_STATUSES,
    REFERENCE_PREFIX,
    REMEDIES,
    Kind,
    ReferenceCounter,
    Severity,
    Status,
    Team,
    TeamMember,
    Ticket,
    TicketEvent,
)

if TYPE_CHECKING:  # seed.py imports this module to list its seeder
    from portal.demo.seed import SeedContext

OPEN_VALUES = frozenset(s.value for s in OPEN_STATUSES)
DEMO_HANDLER_EMAIL = "handler@demo.example.com"
DEMO_LEAD_EMAIL = "lead@demo.example.com"


@dataclass(frozen=True)
class Volume:
    tickets: int  # besides the showcase tickets of the demo handler
    days: int  # how far back tickets were received
    open_factor: float  # scales the chance that a ticket of a given age is still open
    feature_factor: float  # scales how often clocks are paused, restarted, tickets merged


VOLUMES = {
    "small": Volume(400, 150, 1.5, 4.0),
    "large": Volume(300_000, 3 * 365, 1.0, 1.0),
}
CHUNK = 5_000  # tickets whose rows are built and inserted together
WATCH_LAG = timedelta(hours=6)  # the clock watch last ran this long ago: its next run has work
VARIANTS = 16  # pre-rendered texts per (language, cause)

# The chance that a ticket received `age` days ago is still open, by age: the open share of
# the large seed comes to about 3.5 %, the recent tickets and a backlog of stuck ones.
OPEN_BY_AGE = ((1, 0.97), (3, 0.9), (7, 0.8), (15, 0.65), (30, 0.55), (60, 0.45), (120, 0.03))
OPEN_OLD = (365, 0.004, 0.001)  # up to a year, and beyond
OTHER_KINDS_OPEN = 0.3  # past a week, inquiries, feedback and compliments are rarely still open


# ---------------------------------------------------------------- teams

REGIONS = (("华北", "North"), ("华东", "East"), ("华南", "South"), ("西部", "West"))
DESKS = (("信用卡与支付", "Cards and payments"), ("贷款", "Loans"), ("疑难投诉", "Escalations"))
TEAMS = {"small": len(DESKS), "large": len(REGIONS) * len(DESKS)}


def team_names(scale: str) -> list[str]:
    """Team names in order: desk by desk for the small seed, region by desk for the large."""
    if TEAMS[scale] == len(DESKS):
        return [f"{zh} {en}" for zh, en in DESKS]
    return [f"{rzh}{dzh} {ren}: {den}" for rzh, ren in REGIONS for dzh, den in DESKS]


@dataclass
class _Staff:
    team_ids: list[int]
    members: dict[int, list[int]]  # team id -> handlers who work its tickets
    leads: dict[int, int]  # team id -> lead
    emails: dict[int, str]
    registrars: list[int]  # who registers the tickets nobody is assigned to
    demo_handler: int | None


def seed_teams(ctx: SeedContext) -> _Staff:
    """Teams with a lead each (the demo lead leads the first) and the handlers spread over
    them (the demo handler in the first team)."""
    users = db.session.execute(
        select(User.id, User.email, User.role).where(User.active).order_by(User.id)
    ).all()
    emails = {u.id: u.email for u in users}
    handlers = [u.id for u in users if u.role == Role.HANDLER.value]
    leads = [u.id for u in users if u.role == Role.LEAD.value]
    demo_handler = next((u.id for u in users if u.email == DEMO_HANDLER_EMAIL), None)
    demo_lead = next((u.id for u in users if u.email == DEMO_LEAD_EMAIL), None)
    for person, group in ((demo_handler, handlers), (demo_lead, leads)):
        if person in group:  # first in line: the first team is the demo accounts' team
            group.remove(person)
            group.insert(0, person)
    names = team_names(ctx.scale)
    staff = _Staff([], {}, {}, emails, [], demo_handler)
    for position, name in enumerate(names):
        lead = leads[position % len(leads)] if leads else None
        team = Team(name=name, lead_id=lead, created_at=ctx.now, updated_at=ctx.now)
        db.session.add(team)
        db.session.flush()
        staff.team_ids.append(team.id)
        staff.members[team.id] = handlers[position :: len(names)] or ([lead] if lead else [])
        if lead is not None:
            staff.leads[team.id] = lead
        members = set(staff.members[team.id]) | ({lead} if lead else set())
        db.session.add_all(TeamMember(team_id=team.id, user_id=m) for m in sorted(members))
    db.session.commit()
    ctx.counts["teams"] = len(names)
    staff.registrars = handlers + leads or [u.id for u in users]
    return staff


# ---------------------------------------------------------------- the taxonomy in use

KINDS = _pick(
    {
        Kind.COMPLAINT.value: 72,
        Kind.INQUIRY.value: 13,
        Kind.FEEDBACK.value: 10,
        Kind.COMPLIMENT.value: 5,
    }
)
CHANNELS = _pick(
    {
        "A0303": 27,  # mobile app
        "A0302": 25,  # phone banking, the hotline
        "A01": 14,  # in-branch
        "A0304": 9,  # online platforms
        "A0301": 7,  # online banking
        "A04": 6,  # third parties, regulators' referrals among them
        "A0305": 2,
        "A02": 2,
        "A05": 3,
        "A99": 5,
    }
)
BUSINESSES = _pick(
    {
        "B0302": 34,  # credit cards
        "B0201": 29,  # consumer loans
        "B0202": 7,
        "B0203": 6,
        "B0204": 3,
        "B0301": 5,
        "B04": 6,
        "B06": 4,
        "B01": 2,
        "B05": 1,
        "B99": 3,
    }
)
CAUSES = _pick(
    {
        "C07": 22,  # pricing and fees
        "C08": 18,  # debt-collection conduct
        "C01": 13,
        "C06": 9,
        "C04": 9,
        "C03": 7,
        "C05": 6,
        "C02": 5,
        "C11": 3,
        "C10": 2,
        "C09": 2,
        "C99": 4,
    }
)
KIND_CAUSES = {  # what the other kinds are about
    Kind.INQUIRY.value: _pick({"C03": 40, "C05": 30, "C07": 20, "C99": 10}),
    Kind.FEEDBACK.value: _pick({"C02": 45, "C03": 25, "C01": 20, "C99": 10}),
    Kind.COMPLIMENT.value: _pick({"C01": 90, "C99": 10}),
}
SEVERITIES = _pick({"low": 22, "medium": 52, "high": 21, "critical": 5})
SERIOUS_CAUSES = {"C08", "C10", "C11"}  # collection conduct, fund and data security
ACCOUNT_BUSINESS = {
    "credit_card": "B0302",
    "personal_loan": "B0201",
    "mortgage": "B0202",
    "auto_loan": "B0203",
}
PRODUCT_NAMES = {
    "B0302": ("信用卡", "Credit card"),
    "B0301": ("借记卡", "Debit card"),
    "B0201": ("个人消费贷款", "Personal loan"),
    "B0202": ("个人住房贷款", "Mortgage"),
    "B0203": ("汽车贷款", "Car loan"),
    "B0204": ("经营性贷款", "Business loan"),
}
CARD_DESK = {"B0301", "B0302", "B04"}
LOAN_DESK = {"B0201", "B0202", "B0203", "B0204"}


# ---------------------------------------------------------------- texts

# (subject, what the customer asks for) per cause, in Chinese and English.
COMPLAINT_TEXTS: dict[str, tuple[tuple[tuple[str, str], ...], tuple[tuple[str, str], ...]]] = {
    "C01": (
        (("客服态度恶劣，多次推诿", "要求道歉并处理"), ("网点排队时间过长", "要求改进服务")),
        (
            ("Rude treatment by the hotline agent", "An apology and a proper answer"),
            ("Waited over an hour in the branch", "Better service"),
        ),
    ),
    "C02": (
        (
            ("手机银行还款失败", "要求核实并免除因此产生的逾期费用"),
            ("自动扣款未成功", "要求更正征信记录"),
        ),
        (
            ("Repayment failed in the app", "Waive the late fee this caused"),
            ("Direct debit did not run", "Correct the credit record"),
        ),
    ),
    "C03": (
        (("提前还款手续繁琐", "要求简化流程"), ("注销信用卡流程过长", "要求尽快注销")),
        (
            ("Early repayment takes too many steps", "A simpler process"),
            ("Closing the card takes weeks", "Close the card now"),
        ),
    ),
    "C04": (
        (("频繁推销电话骚扰", "要求停止营销来电"), ("分期产品宣传与实际不符", "要求退还手续费")),
        (
            ("Sales calls every day", "Stop the marketing calls"),
            ("Instalment plan was mis-sold", "Refund the plan's fees"),
        ),
    ),
    "C05": (
        (
            ("未告知分期实际年化利率", "要求说明并退还多收利息"),
            ("账单费用说明不清", "要求逐项解释"),
        ),
        (
            ("The APR of the instalment plan was never disclosed", "Refund the excess interest"),
            ("Statement charges are unclear", "An itemised explanation"),
        ),
    ),
    "C06": (
        (("合同条款存在不公平约定", "要求修改条款"), ("保险被默认捆绑", "要求退保并退款")),
        (
            ("Unfair term in the loan agreement", "Change the term"),
            ("Insurance was bundled by default", "Cancel it and refund the premium"),
        ),
    ),
    "C07": (
        (("信用卡年费收取不合理", "要求退还年费"), ("逾期违约金过高", "要求减免违约金")),
        (
            ("Annual fee charged without notice", "Refund the annual fee"),
            ("Late-payment penalty is excessive", "Waive the penalty"),
        ),
    ),
    "C08": (
        (("催收人员频繁致电亲友", "要求停止骚扰第三方"), ("催收电话深夜打来", "要求规范催收时间")),
        (
            ("Collectors keep calling my relatives", "Stop contacting third parties"),
            ("Collection calls late at night", "Calls only at reasonable hours"),
        ),
    ),
    "C09": (
        (
            ("被强制办理附加业务", "要求取消附加业务"),
            ("无法自主选择还款方式", "要求提供其他还款方式"),
        ),
        (
            ("Forced to take an add-on product", "Cancel the add-on"),
            ("No choice of repayment method", "Offer another way to repay"),
        ),
    ),
    "C10": (
        (("信用卡被盗刷", "要求核查并退还被盗刷款项"), ("账户资金异常扣划", "要求退回款项")),
        (
            ("Fraudulent card transactions", "Investigate and refund them"),
            ("Money taken from my account without consent", "Return the money"),
        ),
    ),
    "C11": (
        (("个人信息疑似泄露", "要求调查并说明"), ("未经同意查询征信", "要求删除查询记录")),
        (
            ("My personal data seems to have leaked", "Investigate and explain"),
            ("Credit report pulled without consent", "Remove the enquiry"),
        ),
    ),
    "C99": (
        (("对处理结果不满意", "要求重新处理"), ("其他问题", "要求回复")),
        (
            ("Unhappy with how my case was handled", "Look at it again"),
            ("Another problem", "A reply"),
        ),
    ),
}
OTHER_TEXTS = {
    Kind.INQUIRY.value: (
        (("咨询提前还款手续费", ""), ("咨询账单分期利率", ""), ("咨询如何调整还款日", "")),
        (
            ("Question about early repayment fees", ""),
            ("What rate does the instalment plan charge?", ""),
            ("How do I move my due date?", ""),
        ),
    ),
    Kind.FEEDBACK.value: (
        (("建议手机银行增加账单分期入口", ""), ("希望延长客服热线服务时间", "")),
        (
            ("Suggestion: put instalments in the app's menu", ""),
            ("Please open the hotline longer", ""),
        ),
    ),
    Kind.COMPLIMENT.value: (
        (("表扬客服专员耐心解答", ""), ("感谢网点工作人员热情服务", "")),
        (
            ("Thanks to the agent who sorted out my statement", ""),
            ("Great help at the branch", ""),
        ),
    ),
}
ZH_DESCRIPTIONS = (
    "客户于{day}来电反映：{subject}。涉及金额约{amount}元，客户情绪{mood}。",
    "客户称{day}发现{subject}，已多次联系未果，要求尽快答复。",
    "{subject}。客户提供了截图和账单，涉及{product}，金额{amount}元。",
)
EN_DESCRIPTIONS = (
    "The customer called on {day}: {subject}. About CNY {amount} involved; the customer is {mood}.",
    "On {day} the customer noticed: {subject}. Several calls got no answer; wants a reply soon.",
    "{subject}. Screenshots and the statement attached; {product}, CNY {amount}.",
)
ZH_MOODS = ("较为激动", "平稳", "不满", "焦急")
EN_MOODS = ("upset", "calm", "annoyed", "anxious")
ZH_RESOLUTIONS = (
    "经核实，相关费用收取有误，已退还{amount}元并向客户致歉，客户表示认可。",
    "经调取录音核查，已向客户详细解释收费依据，客户表示理解。",
    "已协调相关部门整改，并向客户反馈处理结果。",
    "已为客户减免违约金{amount}元，客户满意。",
)
EN_RESOLUTIONS = (
    "Checked: the fee was charged in error. Refunded CNY {amount} and apologised; accepted.",
    "Reviewed the call recordings and explained the charges; the customer understands.",
    "Raised with the department concerned; told the customer what changes.",
    "Waived CNY {amount} of penalties; the customer is satisfied.",
)
ZH_NOTES = (
    "已调取通话录音，待核查。",
    "已联系业务部门，等待回复。",
    "客户要求书面答复。",
    "与客户电话沟通，客户同意等待核查结果。",
)
EN_NOTES = (
    "Pulled the call recordings; checking them.",
    "Asked the card operations team; waiting for their answer.",
    "Customer wants the answer in writing.",
    "Spoke to the customer, who is happy to wait for our findings.",
)
ZH_ACK = "您好，您的{ref}已受理，我们将在规定期限内答复。"
EN_ACK = "Thank you: we have registered {ref} and will answer within the time allowed."
ZH_EXTEND = ("案情复杂，需调取合同及录音核查", "需多个部门会同核查，申请延长处理期限")
EN_EXTEND = ("Complex case: contract and recordings under review", "Needs several departments")
ZH_EXTEND_NOTICE = "因案情复杂，我们将延长处理期限，最迟于{due}前答复您。"
EN_EXTEND_NOTICE = "Your case needs more time; we will answer by {due} at the latest."
ZH_PAUSE = "提交第三方鉴定，鉴定期间不计入处理期限"
EN_PAUSE = "Sent for outside appraisal; the time it takes does not count"
ZH_WITHDRAW = "客户来电撤回投诉"
EN_WITHDRAW = "Customer withdrew the complaint after our call-back"
ZH_ROOT = ("系统参数配置错误", "员工未按规定告知", "外包催收机构违规")
EN_ROOT = ("Wrong fee parameter in the card system", "Staff skipped the disclosure script")


# ---------------------------------------------------------------- planning


@dataclass(frozen=True)
class _Plan:
    received: datetime
    kind: str
    open: bool
    showcase: str | None = None  # a demo handler's ticket in a given state (see SHOWCASE)


# The demo handler's own open complaints, in days before now, with the state each shows.
SHOWCASE = (
    ("breached", 19.5),
    ("due_today", 14.6),
    ("warned", 12.7),
    ("paused", 8.3),
    ("extended", 20.2),
    ("extended_twice", 40.4),
    ("restarted", 11.1),
    ("waiting", 4.2),
    ("new", 0.1),
)


@dataclass
class _Rows:
    tickets: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class _Recent:
    """A recent complaint a repeat can be merged into."""

    ticket_id: int
    reference: str
    customer_id: int
    account_id: int | None
    business: str
    cause: str
    received: datetime
    ends: datetime | None  # None while open


class _Generator:
    def __init__(self, ctx: SeedContext, staff: _Staff) -> None:
        self.ctx, self.rng, self.now = ctx, ctx.rng, ctx.now
        self.volume = VOLUMES[ctx.scale]
        self.staff = staff
        settings = deadlines.clock_settings()
        self.zone = settings.zone
        self.profile_code = settings.profile
        # The profile as the services apply it (the deployment may roll weekends).
        self.profile = deadlines.profile_for(Ticket(profile=settings.profile))
        self.calendar = clocks.PROFILES[self.profile_code].calendar
        self.today = self.now.astimezone(self.zone).date()
        self.watched = self.now - WATCH_LAG
        self.deadline_cache: dict[tuple[date, date | None, int, int], clocks.Deadlines] = {}
        self.next_id = {
            model: (db.session.scalar(select(func.max(model.id))) or 0) + 1
            for model in (Ticket, TicketEvent)
        }
        self.counters = {
            (c.prefix, c.year): c.last for c in db.session.scalars(select(ReferenceCounter))
        }
        self.recent: deque[_Recent] = deque(maxlen=300)
        self._load_customers()
        self._render_texts()

    # -- who complains

    def _load_customers(self) -> None:
        self.customers = db.session.execute(
            select(Customer.id, Customer.locale)
            .where(Customer.erased_at.is_(None))
            .order_by(Customer.id)
        ).all()
        self.accounts: dict[int, list[tuple[int, str]]] = {}
        for account_id, customer_id, product in db.session.execute(
            select(CreditAccount.id, CreditAccount.customer_id, CreditAccount.product).order_by(
                CreditAccount.id
            )
        ):
            self.accounts.setdefault(customer_id, []).append((account_id, product))

    def _customer(self) -> tuple[int, str] | None:
        if not self.customers:
            return None
        # Customers of longer standing have more to complain about: favour lower ids a little.
        customer = self.customers[int(len(self.customers) * self.rng.random() ** 1.2)]
        return customer.id, "zh" if customer.locale.startswith("zh") else "en"

    # -- texts

    def _render_texts(self) -> None:
        rng = self.rng
        self.descriptions: dict[tuple[str, str], list[str]] = {}
        for cause, (zh, en) in COMPLAINT_TEXTS.items():
            for lang, pairs in (("zh", zh), ("en", en)):
                self.descriptions[lang, cause] = [
                    self._describe(lang, rng.choice(pairs)[0]) for _ in range(VARIANTS)
                ]
        self.resolutions = {
            lang: [
                rng.choice(pool).format(amount=f"{rng.randrange(50, 5_000, 10):,}")
                for _ in range(VARIANTS)
            ]
            for lang, pool in (("zh", ZH_RESOLUTIONS), ("en", EN_RESOLUTIONS))
        }

    def _describe(self, lang: str, subject: str) -> str:
        rng = self.rng
        day = self.today - timedelta(days=rng.randint(1, 20))
        amount = f"{rng.randrange(100, 20_000, 10):,}"
        if lang == "zh":
            template = rng.choice(ZH_DESCRIPTIONS)
            return template.format(
                day=f"{day.month}月{day.day}日",
                subject=subject,
                amount=amount,
                mood=rng.choice(ZH_MOODS),
                product=rng.choice(PRODUCT_NAMES["B0302"][:1] + PRODUCT_NAMES["B0201"][:1]),
            )
        template = rng.choice(EN_DESCRIPTIONS)
        return template.format(
            day=day.strftime("%d %b"),
            subject=subject,
            amount=amount,
            mood=rng.choice(EN_MOODS),
            product=rng.choice(("credit card", "personal loan")),
        )

    # -- clocks, as the services compute them

    def _deadlines(
        self, received: datetime, counting_from: date | None, extensions: int, paused_days: int
    ) -> clocks.Deadlines:
        """The regulatory deadlines of a running clock; they depend only on the day counting
        starts, the extensions and the paused days, so they are computed once per such key."""
        key = (received.astimezone(self.zone).date(), counting_from, extensions, paused_days)
        found = self.deadline_cache.get(key)
        if found is None:
            state = clocks.ClockState(
                profile=self.profile_code,
                received_at=received,
                counting_from=counting_from,
                extensions=extensions,
                paused_days=paused_days,
            )
            found = self.deadline_cache[key] = clocks.deadlines(
                state, self.zone, profile=self.profile
            )
        return found

    def _sla_due(self, received: datetime, severity: str, paused_hours: float) -> datetime:
        hours = deadlines.SLA_HOURS[Severity(severity)] + paused_hours
        return self.calendar.add_business_hours(received, hours, self.zone)

    def _clock_event(
        self,
        life: _Life,
        received: datetime,
        at: datetime,
        actor: int | None,
        what: tuple[str, str | None],
        before: tuple[date | None, int, int],
        after: tuple[date | None, int, int],
        approver: str | None = None,
    ) -> str:
        """A clock change as the services record it: the deadline before and after, given
        (counting from, extensions, paused days) of each; returns the new deadline."""
        due_before, due_after = (
            self._deadlines(received, *key).respond_by for key in (before, after)
        )
        assert due_before is not None and due_after is not None
        action, reason = what
        life.add(
            at,
            actor,
            action,
            reason=reason,
            data={
                "due_before": due_before.isoformat(),
                "due_after": due_after.isoformat(),
                "extensions": after[1],
                "paused_days": after[2],
                "approver": approver,
            },
        )
        return (due_after - timedelta(seconds=1)).astimezone(self.zone).strftime("%Y-%m-%d")

    def _pause(
        self,
        life: _Life,
        received: datetime,
        at: datetime,
        actor: int | None,
        key: tuple[date | None, int, int],
    ) -> None:
        reason = ZH_PAUSE if life.lang == "zh" else EN_PAUSE
        self._clock_event(life, received, at, actor, ("clock.paused", reason), key, key)
        life.notice(at, actor, reason, "clock.paused")

    def _extension(
        self, life: _Life, state: _State, at: datetime, extension: int, actor: int | None
    ) -> None:
        zh = life.lang == "zh"
        paused = state.paused_days if state.paused_since is None else 0
        last_day = self._clock_event(
            life,
            state.received,
            at,
            actor,
            ("clock.extended", self.rng.choice(ZH_EXTEND if zh else EN_EXTEND)),
            (state.counting_from, extension - 1, paused),
            (state.counting_from, extension, paused),
            approver=self.staff.emails.get(actor) if extension == 2 and actor else None,
        )
        notice = (ZH_EXTEND_NOTICE if zh else EN_EXTEND_NOTICE).format(due=last_day)
        life.notice(at, actor, notice, "clock.extended")

    # -- the plan: when tickets arrived, and which are still open

    def plans(self) -> list[_Plan]:
        rng, volume = self.rng, self.volume
        midnight = datetime.combine(self.today, time(), tzinfo=self.zone)
        weights = []
        for back in range(volume.days):
            day = self.today - timedelta(days=back)
            growth = 1.3 - 0.6 * back / max(volume.days, 1)  # volumes grew over the years
            weights.append(growth * (0.45 if day.weekday() >= 5 else 1.0))
        total, running, cumulative = sum(weights), 0.0, []
        for weight in weights:
            running += weight
            cumulative.append(running / total)
        plans = []
        for _ in range(volume.tickets):
            back = min(bisect(cumulative, rng.random()), volume.days - 1)
            if rng.random() < 0.85:  # office hours, mostly
                seconds = rng.randint(8 * 3600 + 1800, 20 * 3600 + 1800)
            else:
                seconds = rng.randrange(86_400)
            received = (midnight - timedelta(days=back) + timedelta(seconds=seconds)).astimezone(
                UTC
            )
            if received > self.now:
                received = self.now - timedelta(seconds=rng.randrange(60, 4 * 3600))
            age = (self.now - received).total_seconds() / 86_400
            kind = KINDS(rng.random())
            plans.append(_Plan(received, kind, rng.random() < self._open_chance(age, kind)))
        if self.staff.demo_handler is not None:
            for state, days in SHOWCASE:
                received = self.now - timedelta(days=days)
                plans.append(_Plan(received, Kind.COMPLAINT.value, True, state))
        plans.sort(key=lambda plan: plan.received)
        return plans

    def _open_chance(self, age: float, kind: str) -> float:
        chance = next((p for limit, p in OPEN_BY_AGE if age < limit), None)
        if chance is None:
            limit, within_year, older = OPEN_OLD
            chance = within_year if age < limit else older
        if kind != Kind.COMPLAINT.value and age > 7:
            chance *= OTHER_KINDS_OPEN
        return min(chance * self.volume.open_factor, 0.98)

    # -- one ticket

    def _take(self, model: Any) -> int:
        value = self.next_id[model]
        self.next_id[model] = value + 1
        return value

    def _reference(self, kind: str, received: datetime) -> str:
        prefix = REFERENCE_PREFIX[Kind(kind)]
        key = (prefix, received.astimezone(self.zone).year)
        number = self.counters.get(key, 0) + 1
        self.counters[key] = number
        return f"{prefix}-{key[1]}-{number:06d}"

    def _team_for(self, business: str, severity: str, channel: str, region: int) -> int | None:
        teams = self.staff.team_ids
        if not teams:
            return None
        if severity == "critical" or channel == "A04":
            desk = 2
        elif business in CARD_DESK:
            desk = 0
        elif business in LOAN_DESK:
            desk = 1
        else:
            desk = 2
        index = desk + len(DESKS) * (region % max(len(teams) // len(DESKS), 1))
        return teams[index % len(teams)]

    def ticket(self, plan: _Plan, rows: _Rows) -> None:
        rng, now, factor = self.rng, self.now, self.volume.feature_factor
        received = plan.received
        age_days = (now - received).total_seconds() / 86_400
        repeat = None
        if (
            plan.kind == Kind.COMPLAINT.value
            and not plan.showcase
            and rng.random() < 0.003 * factor
        ):
            repeat = next(
                (r for r in self.recent if r.received < received and (r.ends or now) > received),
                None,
            )
        kind = plan.kind
        complaint = kind == Kind.COMPLAINT.value

        customer_id, lang, account_id, product_code = None, "zh", None, None
        chosen = None if rng.random() > (0.88 if complaint else 0.6) else self._customer()
        if repeat is not None:
            customer_id, account_id = repeat.customer_id, repeat.account_id
            lang = "zh" if rng.random() < 0.75 else "en"
        elif chosen is not None:
            customer_id, lang = chosen
            owned = self.accounts.get(customer_id) or []
            if owned and rng.random() < 0.6:
                account_id, product = rng.choice(owned)
                product_code = ACCOUNT_BUSINESS.get(product)
        else:
            lang = "zh" if rng.random() < 0.75 else "en"
        if repeat is not None:
            business, cause = repeat.business, repeat.cause
        else:
            business = product_code or BUSINESSES(rng.random())
            cause = CAUSES(rng.random()) if complaint else KIND_CAUSES[kind](rng.random())
        channel = CHANNELS(rng.random())
        severity = SEVERITIES(rng.random()) if kind != Kind.COMPLIMENT.value else "low"
        if cause in SERIOUS_CAUSES and severity in ("low", "medium") and rng.random() < 0.5:
            severity = "high"
        if plan.showcase == "breached":
            severity = "high"

        region = (customer_id or rng.randrange(1_000)) % len(REGIONS)
        team_id = self._team_for(business, severity, channel, region)
        members = self.staff.members.get(team_id, []) if team_id else []
        state = _State(received=received, severity=severity)
        # Not yet acknowledged, and often not yet assigned.
        state.stays_new = plan.open and repeat is None and self._stays_new(plan, age_days)
        if plan.showcase and self.staff.demo_handler is not None:
            team_id = self.staff.team_ids[0] if self.staff.team_ids else None
            assignee = self.staff.demo_handler
        elif state.stays_new and rng.random() < 0.5:
            assignee = None
            team_id = team_id if rng.random() < 0.6 else None
        else:
            assignee = rng.choice(members) if members else None
        lead = self.staff.leads.get(team_id) if team_id else None

        if complaint:
            subjects = COMPLAINT_TEXTS[cause][0 if lang == "zh" else 1]
        else:
            subjects = OTHER_TEXTS[kind][0 if lang == "zh" else 1]
        subject, request = rng.choice(subjects)
        if repeat is not None:
            subject = ("再次投诉：" if lang == "zh" else "Again: ") + subject
        description = (
            rng.choice(self.descriptions[lang, cause])
            if complaint
            else subject + ("。" if lang == "zh" else ".")
        )
        names = PRODUCT_NAMES.get(business)
        product = names[0 if lang == "zh" else 1] if names else None

        ticket_id = self._take(Ticket)
        reference = self._reference(kind, received)
        registrar = assignee or rng.choice(self.staff.registrars)
        created = min(received + timedelta(seconds=rng.randint(60, 1800)), now)

        life = _Life(self, rows, ticket_id, lang)
        life.add(created, registrar, "created")  # data filled in below, once clocks are known
        if assignee or team_id:
            life.add(
                created,
                registrar,
                "assigned",
                data={"assignee_id": assignee, "team_id": team_id},
            )

        # -- what happened to it
        if repeat is not None:
            state.status = Status.CLOSED.value
            ends = min(received + timedelta(hours=rng.uniform(1, 48)), now)
            if repeat.ends is not None:
                ends = min(ends, repeat.ends)
            ends = max(ends, created)
            state.closed_at = ends
            state.merged_into = repeat.ticket_id
            state.resolution = f"Merged into {repeat.reference}"
            reason = "同一投诉重复提交" if lang == "zh" else "Same complaint sent twice"
            life.add(
                ends,
                assignee or registrar,
                "merged.into",
                reason=reason,
                data={"into": repeat.reference, "from_status": Status.NEW.value},
            )
            merged_from = life.row(
                repeat.ticket_id,
                ends,
                assignee or registrar,
                "merged.from",
                reason=reason,
                data={"duplicate": reference},
            )
            merged_from["id"] = self._take(TicketEvent)
            rows.events.append(merged_from)
            end = ends
        elif plan.open:
            end = self._open_life(plan, life, state, created, assignee, lead, age_days, complaint)
        else:
            end = self._finished_life(life, state, created, assignee, lead, age_days, complaint)

        # -- the clocks the services would have stored
        sla_due = self._sla_due(received, severity, state.sla_paused_hours)
        summary_due = None
        if complaint:
            found = self._deadlines(
                received, state.counting_from, state.extensions, state.paused_days
            )
            assert found.respond_by is not None
            due, summary_due = found.respond_by, found.summary_by
        else:
            due = sla_due
        warn_at = received + (due - received) * deadlines.WARN_SHARE
        first = self._deadlines(received, None, 0, 0) if complaint else None
        first_sla = self._sla_due(received, severity, 0.0) if state.sla_paused_hours else sla_due
        life.created_data(
            {
                "reference": reference,
                "kind": kind,
                "profile": self.profile_code,
                "received_at": received.isoformat(),
                "due_at": (first.respond_by if first else first_sla).isoformat(),
                "sla_due_at": first_sla.isoformat(),
                "source": "staff",
            }
        )
        for extension, at in enumerate(state.extended_at, 1):
            self._extension(life, state, at, extension, lead if extension == 2 else assignee)

        # -- the clock watch, as if it had run every few minutes until WATCH_LAG ago
        is_open = state.status in OPEN_VALUES
        watch_end = min(end or now, self.watched)
        if state.paused_since is not None:
            watch_end = min(watch_end, state.paused_since)
        warned_at = escalated_at = None
        if warn_at < watch_end and state.merged_into is None:
            warned_at = warn_at + timedelta(minutes=rng.randint(1, 10))
            life.add(warned_at, None, "clock.warning", data={"due_at": due.isoformat()})
        if due < watch_end and state.merged_into is None:
            escalated_at = due + timedelta(minutes=rng.randint(1, 10))
            life.add(escalated_at, None, "clock.breached", data={"due_at": due.isoformat()})

        resolution = state.resolution
        remedies = company_response = redress_kind = redress_amount = root_cause = None
        if state.resolved_at is not None:
            resolution = rng.choice(self.resolutions[lang])
            if complaint and self.profile_code == "CN":
                remedies = list(REMEDIES) if rng.random() < 0.8 else ["review", "mediation"]
            if complaint and rng.random() < 0.3:
                redress_kind = rng.choice(("refund", "fee_waiver", "compensation", "goodwill"))
                redress_amount = Decimal(rng.randrange(2_000, 500_000)).scaleb(-2)
            if complaint and rng.random() < 0.25:
                root_cause = rng.choice(ZH_ROOT if lang == "zh" else EN_ROOT)
            if complaint and self.profile_code == "US":
                company_response = (
                    "Closed with monetary relief" if redress_amount else "Closed with explanation"
                )
            life.resolution(state.resolved_at, assignee or registrar, resolution)
        elif complaint and self.profile_code == "US" and state.extensions:
            company_response = "In progress"

        events = life.finish()
        rows.tickets.append(
            {
                "id": ticket_id,
                "reference": reference,
                "kind": kind,
                "status": state.status,
                "is_open": is_open,
                "customer_id": customer_id,
                "account_id": account_id,
                "product": product,
                "channel_code": channel,
                "business_code": business,
                "cause_code": cause,
                "severity": severity,
                "subject": subject,
                "request": request,
                "description": description,
                "assignee_id": assignee,
                "team_id": team_id,
                "registered_by_id": registrar,
                "resolution": resolution,
                "redress_kind": redress_kind,
                "redress_amount": redress_amount,
                "root_cause": root_cause,
                "remedies_told": remedies,
                "company_response": company_response,
                "merged_into_id": state.merged_into,
                "profile": self.profile_code,
                "received_at": received,
                "counting_from": state.counting_from,
                "extensions": state.extensions,
                "paused_since": state.paused_since,
                "paused_days": state.paused_days,
                "due_at": due,
                "summary_due_at": summary_due,
                "sla_due_at": sla_due,
                "sla_paused_since": state.sla_paused_since,
                "sla_paused_hours": state.sla_paused_hours,
                "acknowledged_at": state.acknowledged_at,
                "resolved_at": state.resolved_at,
                "closed_at": state.closed_at,
                "warn_at": warn_at,
                "warned_at": warned_at,
                "escalated_at": escalated_at,
                "source": "staff",
                "external_id": None,
                "original": None,
                "version": 1 + sum(e["action"] in VERSIONED for e in events),
                "created_at": created,
                "updated_at": max([created, *(e["occurred_at"] for e in events)]),
            }
        )
        if complaint and customer_id is not None and state.merged_into is None:
            self.recent.append(
                _Recent(
                    ticket_id,
                    reference,
                    customer_id,
                    account_id,
                    business,
                    cause,
                    received,
                    None if is_open else end,
                )
            )

    # -- lives of tickets

    def _stays_new(self, plan: _Plan, age: float) -> bool:
        if plan.showcase is not None:
            return plan.showcase == "new"
        return self.rng.random() < (0.6 if age < 1 else 0.1 if age < 3 else 0.02)

    def _open_life(
        self,
        plan: _Plan,
        life: _Life,
        state: _State,
        created: datetime,
        assignee: int | None,
        lead: int | None,
        age: float,
        complaint: bool,
    ) -> None:
        """An open ticket: how far it got, and its clock's extensions, pauses and restarts."""
        rng, now, factor = self.rng, self.now, self.volume.feature_factor
        showcase = plan.showcase
        actor = assignee or lead
        if state.stays_new:
            return None
        acknowledged = _between(rng, created, now, 0.2 / 24, min(1.0, age * 0.3))
        state.acknowledged_at = acknowledged
        life.status(acknowledged, actor, Status.NEW, Status.ACKNOWLEDGED)
        if complaint and rng.random() < 0.5:
            life.response(acknowledged, actor, "ack")
        state.status = Status.ACKNOWLEDGED.value
        if showcase is None and rng.random() < (0.75 if age < 1 else 0.1):
            return None
        working = _between(rng, acknowledged, now, 0.05, min(2.0, age * 0.3))
        life.status(working, actor, Status.ACKNOWLEDGED, Status.IN_PROGRESS)
        state.status = Status.IN_PROGRESS.value
        if rng.random() < 0.5:
            life.note(_between(rng, working, now, 0.01, 3.0), actor)

        profile = self.profile
        if complaint:
            period = profile.response_days
            wants = showcase in ("extended", "extended_twice") or (
                showcase is None and age > period - 2 and rng.random() < 0.9
            )
            if profile.extended_days and wants:
                state.extended_at.append(received_plus(state.received, period - rng.uniform(1, 3)))
                second = showcase == "extended_twice" or (
                    showcase is None and age > 28 and rng.random() < 0.85
                )
                if len(profile.extended_days) > 1 and second:
                    state.extended_at.append(
                        received_plus(state.received, profile.extended_days[0] - rng.uniform(1, 3))
                    )
                state.extensions = len(state.extended_at)
            restart = profile.can_restart and age > 3
            restart = restart and (
                showcase == "restarted" or (showcase is None and rng.random() < 0.01 * factor)
            )
            pause = profile.can_pause and age > 3 and not restart
            pause = pause and (
                showcase == "paused" or (showcase is None and rng.random() < 0.06 * factor)
            )
            if restart:
                facts = received_plus(state.received, rng.uniform(2, min(age - 0.5, 6)))
                state.counting_from = facts.astimezone(self.zone).date()
                reason = "客户补充新材料" if life.lang == "zh" else "New documents arrived"
                self._clock_event(
                    life,
                    state.received,
                    facts,
                    actor,
                    ("clock.restarted", reason),
                    (None, 0, 0),
                    (state.counting_from, 0, 0),
                )
            elif pause:
                since = _between(rng, working, now, 0.5, min(age * 0.6, 10.0))
                state.paused_since = since
                done = sum(at <= since for at in state.extended_at)
                self._pause(life, state.received, since, actor, (None, done, 0))
        if showcase == "waiting" or (showcase is None and rng.random() < 0.22):
            waiting = _between(rng, working, now, 0.05, min(age * 0.5, 6.0))
            life.status(waiting, actor, Status.IN_PROGRESS, Status.WAITING)
            state.status = Status.WAITING.value
            state.sla_paused_since = waiting
        return None

    def _finished_life(
        self,
        life: _Life,
        state: _State,
        created: datetime,
        assignee: int | None,
        lead: int | None,
        age: float,
        complaint: bool,
    ) -> datetime:
        """A ticket that was resolved (and mostly closed) or withdrawn; returns when it ended."""
        rng, now, factor = self.rng, self.now, self.volume.feature_factor
        profile = self.profile
        actor = assignee or lead
        took = _handling_days(rng, complaint)
        if took > age:
            took = age * rng.uniform(0.3, 0.95)
        ends = max(received_plus(state.received, took), created + timedelta(minutes=5))
        ends = min(ends, now)
        acknowledged = _between(rng, created, ends, 0.05, min(1.0, took * 0.3))
        state.acknowledged_at = acknowledged
        life.status(acknowledged, actor, Status.NEW, Status.ACKNOWLEDGED)
        if complaint and rng.random() < 0.3:
            life.response(acknowledged, actor, "ack")
        current = Status.ACKNOWLEDGED
        if rng.random() < 0.4:
            working = _between(rng, acknowledged, ends, 0.02, took * 0.3)
            life.status(working, actor, current, Status.IN_PROGRESS)
            current = Status.IN_PROGRESS
            if rng.random() < 0.25:
                waiting = _between(rng, working, ends, 0.02, took * 0.3)
                back = _between(rng, waiting, ends, 0.02, took * 0.5)
                life.status(waiting, actor, current, Status.WAITING)
                life.status(back, actor, Status.WAITING, Status.IN_PROGRESS)
                state.sla_paused_hours = self.calendar.business_hours_between(
                    waiting, back, self.zone
                )
        if rng.random() < 0.3:
            life.note(_between(rng, acknowledged, ends, 0.01, took), actor)
        if complaint and profile.extended_days:
            period = profile.response_days
            if took > period - 1.5 and rng.random() < 0.9:
                state.extended_at.append(received_plus(state.received, period - rng.uniform(1, 3)))
                if len(profile.extended_days) > 1 and took > profile.extended_days[0] - 1.5:
                    state.extended_at.append(
                        received_plus(state.received, profile.extended_days[0] - rng.uniform(1, 3))
                    )
                state.extended_at = [min(at, ends) for at in state.extended_at]
                state.extensions = len(state.extended_at)
        if complaint and profile.can_pause and rng.random() < 0.03 * factor and took > 4:
            since = _between(rng, acknowledged, ends, 0.1, took * 0.3)
            until = _between(rng, since, ends, 1.0, took * 0.5)
            done = sum(at <= since for at in state.extended_at)
            self._pause(life, state.received, since, actor, (None, done, 0))
            resumed = clocks.resume(
                clocks.ClockState(self.profile_code, state.received, paused_since=since),
                until,
                self.zone,
            )
            state.paused_days = resumed.paused_days
            done = sum(at <= until for at in state.extended_at)
            reason = "鉴定结果已出" if life.lang == "zh" else "Appraisal report received"
            self._clock_event(
                life,
                state.received,
                until,
                actor,
                ("clock.resumed", reason),
                (None, done, 0),
                (None, done, state.paused_days),
            )
        withdrawn = rng.random() < (0.03 if complaint else 0.01)
        if withdrawn:
            life.status(
                ends,
                actor,
                current,
                Status.WITHDRAWN,
                reason=ZH_WITHDRAW if life.lang == "zh" else EN_WITHDRAW,
            )
            state.status = Status.WITHDRAWN.value
            return ends
        life.status(ends, actor, current, Status.RESOLVED)
        state.resolved_at = ends
        state.status = Status.RESOLVED.value
        closes = ends + timedelta(days=rng.uniform(1, 10))
        if closes <= now:
            life.status(closes, actor, Status.RESOLVED, Status.CLOSED)
            state.closed_at = closes
            state.status = Status.CLOSED.value
        return ends


VERSIONED = {"assigned", "status", "clock.extended", "clock.paused", "clock.resumed"}


def received_plus(received: datetime, days: float) -> datetime:
    return received + timedelta(days=days)


def _between(rng: Any, start: datetime, end: datetime, low: float, high: float) -> datetime:
    """A moment `low` to `high` days after `start`, but never after `end`."""
    high = max(high, low)
    moment = start + timedelta(days=rng.uniform(low, high))
    return max(min(moment, end), start)


def _handling_days(rng: Any, complaint: bool) -> float:
    """How long a ticket took: most within days, a tail into extensions and the odd overrun."""
    u = rng.random()
    if not complaint:
        return rng.uniform(0.05, 1.5) if u < 0.7 else rng.uniform(1.5, 8)
    if u < 0.45:
        return rng.uniform(0.2, 5)
    if u < 0.80:
        return rng.uniform(5, 12)
    if u < 0.92:
        return rng.uniform(12, 14.3)
    if u < 0.97:
        return rng.uniform(15, 28)
    if u < 0.99:
        return rng.uniform(30, 55)
    return rng.uniform(15.5, 25)  # overran the first deadline without an extension


@dataclass
class _State:
    received: datetime
    severity: str
    status: str = Status.NEW.value
    stays_new: bool = False
    acknowledged_at: datetime | None = None
    resolved_at: datetime | None = None
    closed_at: datetime | None = None
    resolution: str | None = None
    merged_into: int | None = None
    counting_from: date | None = None
    extended_at: list[datetime] = field(default_factory=list)
    extensions: int = 0
    paused_since: datetime | None = None
    paused_days: int = 0
    sla_paused_since: datetime | None = None
    sla_paused_hours: float = 0.0


class _Life:
    """The events of one ticket, ordered by time when finished (ids follow that order)."""

    def __init__(self, generator: _Generator, rows: _Rows, ticket_id: int, lang: str) -> None:
        self.generator, self.rows, self.ticket_id, self.lang = generator, rows, ticket_id, lang
        self.events: list[dict[str, Any]] = []

    def row(
        self,
        ticket_id: int,
        at: datetime,
        user_id: int | None,
        action: str,
        *,
        body: str | None = None,
        reason: str | None = None,
        data: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        label = (
            self.generator.staff.emails.get(user_id, "demo-seed")
            if user_id is not None
            else WATCH_ACTOR.label
        )
        return {
            "id": None,
            "ticket_id": ticket_id,
            "occurred_at": min(at, self.generator.now),
            "actor_id": user_id,
            "actor_label": label,
            "action": action,
            "body": body,
            "reason": reason,
            "data": data,
        }

    def add(self, at: datetime, user_id: int | None, action: str, **kwargs: Any) -> None:
        self.events.append(self.row(self.ticket_id, at, user_id, action, **kwargs))

    def created_data(self, data: dict[str, Any]) -> None:
        self.events[0]["data"] = data

    def status(
        self,
        at: datetime,
        user_id: int | None,
        before: Status,
        after: Status,
        reason: str | None = None,
    ) -> None:
        self.add(
            at, user_id, "status", reason=reason, data={"from": before.value, "to": after.value}
        )

    def note(self, at: datetime, user_id: int | None) -> None:
        rng = self.generator.rng
        self.add(at, user_id, "note", body=rng.choice(ZH_NOTES if self.lang == "zh" else EN_NOTES))

    def response(self, at: datetime, user_id: int | None, what: str) -> None:
        template = ZH_ACK if self.lang == "zh" else EN_ACK
        ref = "投诉" if self.lang == "zh" else "your complaint"
        self.add(at, user_id, "response", body=template.format(ref=ref))

    def notice(self, at: datetime, user_id: int | None, body: str, action: str) -> None:
        """What the customer was told of a clock change (the services' response event)."""
        self.add(at, user_id, "response", body=body, data={"notice": action})

    def resolution(self, at: datetime, user_id: int | None, body: str) -> None:
        # The services write the resolution right after the status change to resolved.
        for position, event in enumerate(self.events):
            if event["action"] == "status" and event["data"]["to"] == Status.RESOLVED.value:
                self.events.insert(
                    position + 1, self.row(self.ticket_id, at, user_id, "resolution", body=body)
                )
                return

    def finish(self) -> list[dict[str, Any]]:
        self.events.sort(key=lambda e: e["occurred_at"])  # stable: same-moment order kept
        for event in self.events:
            event["id"] = self.generator._take(TicketEvent)
        self.rows.events.extend(self.events)
        return self.events


# ---------------------------------------------------------------- inserting


def _insert_statement(model: Any, json_columns: tuple[str, ...] = ()) -> Any:
    """A Core insert of the table; the named JSON columns store None as SQL NULL (as an unset
    ORM attribute does), not as the JSON value null."""
    statement = insert(model.__table__)
    if json_columns:
        statement = statement.values(
            {name: bindparam(name, type_=JSON(none_as_null=True)) for name in json_columns}
        )
    return statement


def _insert(ctx: SeedContext, rows: _Rows) -> None:
    from portal.demo.seed import bulk_insert

    bulk_insert(
        ctx,
        _insert_statement(Ticket, ("remedies_told", "original")),
        rows.tickets,
        len(rows.tickets),
        "tickets",
    )
    bulk_insert(ctx, TicketEvent.__table__, rows.events, len(rows.events), "ticket events")


def _finish(generator: _Generator) -> None:
    """Counters at the last number given per prefix and year; sequences past the ids given;
    fresh planner statistics (see portal/demo/customers.py) and, on PostgreSQL, a vacuum."""
    have = {(c.prefix, c.year) for c in db.session.scalars(select(ReferenceCounter))}
    for (prefix, year), last in sorted(generator.counters.items()):  # they started at `have`
        if (prefix, year) in have:
            db.session.execute(
                update(ReferenceCounter)
                .where(ReferenceCounter.prefix == prefix, ReferenceCounter.year == year)
                .values(last=last)
            )
        else:
            db.session.add(ReferenceCounter(prefix=prefix, year=year, last=last))
    db.session.commit()
    if dialect_name() == "postgresql":
        for model in (Ticket, TicketEvent):
            table = model.__tablename__
            db.session.execute(
                text(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608
                    f"(SELECT max(id) FROM {table}))"
                )
            )
    for model in (Team, TeamMember, Ticket, TicketEvent, ReferenceCounter):
        db.session.execute(text(f"ANALYZE {model.__tablename__}"))
    db.session.commit()
    if dialect_name() == "postgresql":
        # A bulk load leaves the visibility map unset until autovacuum comes by: until then an
        # index-only scan (the queue's capped counts) still reads every row from the heap.
        # SKIP_LOCKED: inside someone's open transaction (the tests') it leaves it to autovacuum.
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            for model in (Ticket, TicketEvent):
                connection.exec_driver_sql(f"VACUUM (SKIP_LOCKED) {model.__tablename__}")


def seed_tickets(ctx: SeedContext) -> None:
    staff = seed_teams(ctx)
    generator = _Generator(ctx, staff)
    plans = generator.plans()
    quiet = replace(ctx, show_progress=False)
    with tqdm(
        total=len(plans),
        desc="tickets and their events",
        unit="tickets",
        disable=not ctx.show_progress,
    ) as bar:
        for first in range(0, len(plans), CHUNK):
            rows = _Rows()
            for plan in plans[first : first + CHUNK]:
                generator.ticket(plan, rows)
            _insert(quiet, rows)
            bar.update(len(rows.tickets))
    _finish(generator)
