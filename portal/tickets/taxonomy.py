"""The JR/T 0169-2018 complaint taxonomy (docs/regulation.md): the default codes and their upkeep.

Three axes — A channel, B business type, C cause — each with an "other" code ending in 99.
Labels are kept in Chinese and English; admins may add codes, relabel and retire them.
"""

from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from portal.core.access import Role
from portal.core.audit import Actor, record_event
from portal.core.errors import NotFound, PermissionDenied, ValidationFailed
from portal.core.extensions import db
from portal.core.transaction import use_case
from portal.tickets.models import Axis, TaxonomyNode

# (code, parent, Chinese label, English label)
DEFAULT_TAXONOMY: tuple[tuple[str, str | None, str, str], ...] = (
    ("A01", None, "营业网点", "In-branch"),
    ("A02", None, "自助机具", "Self-service terminals"),
    ("A03", None, "电子渠道", "Electronic channels"),
    ("A0301", "A03", "网上银行", "Online banking"),
    ("A0302", "A03", "电话银行", "Phone banking"),
    ("A0303", "A03", "手机银行", "Mobile banking app"),
    ("A0304", "A03", "网络平台", "Online platforms"),
    ("A0305", "A03", "短信", "SMS"),
    ("A04", None, "第三方渠道", "Third-party channels"),
    ("A05", None, "中后台", "Middle and back office"),
    ("A99", None, "其他渠道", "Other channels"),
    ("B01", None, "存款", "Deposits"),
    ("B02", None, "贷款", "Loans"),
    ("B0201", "B02", "个人消费贷款", "Personal consumer loans"),
    ("B0202", "B02", "个人住房贷款", "Mortgages"),
    ("B0203", "B02", "汽车贷款", "Auto loans"),
    ("B0204", "B02", "经营性贷款", "Business loans"),
    ("B03", None, "银行卡", "Bank cards"),
    ("B0301", "B03", "借记卡", "Debit cards"),
    ("B0302", "B03", "信用卡", "Credit cards"),
    ("B04", None, "支付结算", "Payment and settlement"),
    ("B05", None, "人民币管理", "RMB management"),
    ("B06", None, "个人金融信息", "Personal financial information"),
    ("B99", None, "其他业务", "Other business"),
    ("C01", None, "服务态度及服务质量", "Service attitude and quality"),
    ("C02", None, "设施设备及系统", "Facilities and systems"),
    ("C03", None, "制度及流程", "Rules and processes"),
    ("C04", None, "营销方式和手段", "Marketing methods"),
    ("C05", None, "信息披露", "Information disclosure"),
    ("C06", None, "合同条款", "Contract terms"),
    ("C07", None, "定价收费", "Pricing and fees"),
    ("C08", None, "债务催收方式和手段", "Debt-collection conduct"),
    ("C09", None, "消费者自主选择权", "Freedom of choice"),
    ("C10", None, "资金安全", "Fund security"),
    ("C11", None, "信息安全", "Information security"),
    ("C99", None, "其他原因", "Other causes"),
)

OTHER = {Axis.CHANNEL: "A99", Axis.BUSINESS: "B99", Axis.CAUSE: "C99"}
CODE_MAX = 16
LABEL_MAX = 120


def default_rows() -> list[dict[str, Any]]:
    """The default codes as table rows, for the migration and the test schema."""
    return [
        {
            "code": code,
            "axis": code[0],
            "parent_code": parent,
            "label_zh": zh,
            "label_en": en,
            "position": position,
            "active": True,
        }
        for position, (code, parent, zh, en) in enumerate(DEFAULT_TAXONOMY)
    ]


@use_case
def ensure_default_taxonomy() -> int:
    """Add the default codes that are missing (never touching edited ones); returns how many."""
    have = set(db.session.scalars(select(TaxonomyNode.code)))
    missing = [row for row in default_rows() if row["code"] not in have]
    for row in missing:
        db.session.add(TaxonomyNode(**row))
    return len(missing)


def nodes(axis: str | None = None, *, active_only: bool = False) -> list[TaxonomyNode]:
    stmt = select(TaxonomyNode).order_by(TaxonomyNode.axis, TaxonomyNode.position)
    if axis:
        stmt = stmt.where(TaxonomyNode.axis == axis)
    if active_only:
        stmt = stmt.where(TaxonomyNode.active.is_(True))
    return list(db.session.scalars(stmt))


def preload(*codes: str | None) -> None:
    """Load several codes in one query, so the `check_code` calls that follow hit the session."""
    wanted = [c.strip().upper() for c in codes if c and c.strip()]
    if wanted:
        list(db.session.scalars(select(TaxonomyNode).where(TaxonomyNode.code.in_(wanted))))


def check_code(code: str | None, axis: Axis, field: str) -> str:
    """A known, active code on `axis`, or a clear refusal."""
    value = (code or "").strip().upper()
    node = db.session.get(TaxonomyNode, value) if value else None
    if node is None or node.axis != axis.value:
        raise ValidationFailed(
            _l("Unknown %(axis)s code '%(code)s'.", axis=axis_label(axis), code=code or ""),
            field=field,
        )
    if not node.active:
        raise ValidationFailed(_l("Code %(code)s is retired.", code=value), field=field)
    return value


def axis_label(axis: Axis | str) -> str:
    labels = {
        Axis.CHANNEL: _l("channel"),
        Axis.BUSINESS: _l("business type"),
        Axis.CAUSE: _l("cause"),
    }
    return str(labels[Axis(axis)])


@use_case
def save_node(
    actor: Actor,
    code: str,
    label_zh: str,
    label_en: str,
    parent_code: str | None = None,
    active: bool = True,
) -> TaxonomyNode:
    """Add a code under a parent (or at the top of its axis), or relabel/retire one: admins
    only, as the codes classify every ticket and the regulator's report."""
    if not (actor.is_system or actor.role == Role.ADMIN):
        raise PermissionDenied(_l("Only admins edit the complaint taxonomy."))
    code = (code or "").strip().upper()
    label_zh, label_en = (label_zh or "").strip(), (label_en or "").strip()
    if not code or len(code) > CODE_MAX or code[0] not in "ABC" or not code[1:].isalnum():
        raise ValidationFailed(
            _l("A code starts with its axis letter A, B or C, then letters or digits."),
            field="code",
        )
    if not label_zh or not label_en or max(len(label_zh), len(label_en)) > LABEL_MAX:
        raise ValidationFailed(
            _l("Give both labels, each at most %(max)d characters.", max=LABEL_MAX),
            field="label_en",
        )
    parent = None
    if parent_code:
        parent = db.session.get(TaxonomyNode, parent_code.strip().upper())
        if parent is None or parent.axis != code[0] or not code.startswith(parent.code):
            raise ValidationFailed(
                _l("A code's parent is on the same axis and its code begins the child's."),
                field="parent_code",
            )
    node = db.session.get(TaxonomyNode, code)
    before = None
    if node is None:
        last = db.session.scalar(select(func.max(TaxonomyNode.position))) or 0
        node = TaxonomyNode(code=code, axis=code[0], position=last + 1)
        db.session.add(node)
    else:
        before = _snapshot(node)
        if not active and code in OTHER.values():
            raise ValidationFailed(_l("The 'other' codes cannot be retired."), field="active")
    node.parent_code = parent.code if parent else None
    node.label_zh, node.label_en, node.active = label_zh, label_en, active
    db.session.flush()
    record_event(
        actor,
        "taxonomy.saved" if before else "taxonomy.added",
        "taxonomy",
        code,
        before=before,
        after=_snapshot(node),
    )
    return node


def get_node(code: str) -> TaxonomyNode:
    node = db.session.get(TaxonomyNode, (code or "").upper())
    if node is None:
        raise NotFound(_l("No such taxonomy code."))
    return node


def _snapshot(node: TaxonomyNode) -> dict[str, Any]:
    return {
        "parent": node.parent_code,
        "label_zh": node.label_zh,
        "label_en": node.label_en,
        "active": node.active,
    }


def active_or_other(code: str, axis: Axis) -> str:
    """`code`, or its axis's "other" code (which cannot be retired) when an admin has retired
    it: intake from outside — the public form, email — cannot choose another, so the handler
    reclassifies."""
    node = db.session.get(TaxonomyNode, code)
    if node is None or not node.active or node.axis != axis.value:
        return OTHER[axis]
    return code
