"""The words of the demo tickets, in Chinese and English: what customers complain about, ask,
suggest and praise (subjects, requests, descriptions), what handlers write (notes,
acknowledgements, notices of extended and paused clocks, resolutions, root causes), and the
names of the teams and products they mention.

Data only: tickets.py picks among these as it creates tickets and moves them through their
statuses.
"""

from portal.tickets.models import Kind

# ---------------------------------------------------------------- names

# Teams are named region by desk (the small seed has the desks only).
REGIONS = (("华北", "North"), ("华东", "East"), ("华南", "South"), ("西部", "West"))
DESKS = (("信用卡与支付", "Cards and payments"), ("贷款", "Loans"), ("疑难投诉", "Escalations"))
PRODUCT_NAMES = {
    "B0302": ("信用卡", "Credit card"),
    "B0301": ("借记卡", "Debit card"),
    "B0201": ("个人消费贷款", "Personal loan"),
    "B0202": ("个人住房贷款", "Mortgage"),
    "B0203": ("汽车贷款", "Car loan"),
    "B0204": ("经营性贷款", "Business loan"),
}
# The products a complaint's description mentions.
ZH_DESCRIBED_PRODUCTS = (PRODUCT_NAMES["B0302"][0], PRODUCT_NAMES["B0201"][0])
EN_DESCRIBED_PRODUCTS = ("credit card", "personal loan")


# ---------------------------------------------------------------- what customers write

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
ZH_AGAIN = "再次投诉："  # before the subject of a complaint sent again
EN_AGAIN = "Again: "


# ---------------------------------------------------------------- what handlers write

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
ZH_ACK_REF = "投诉"
EN_ACK_REF = "your complaint"
ZH_DUPLICATE = "同一投诉重复提交"
EN_DUPLICATE = "Same complaint sent twice"
ZH_EXTEND = ("案情复杂，需调取合同及录音核查", "需多个部门会同核查，申请延长处理期限")
EN_EXTEND = ("Complex case: contract and recordings under review", "Needs several departments")
ZH_EXTEND_NOTICE = "因案情复杂，我们将延长处理期限，最迟于{due}前答复您。"
EN_EXTEND_NOTICE = "Your case needs more time; we will answer by {due} at the latest."
ZH_PAUSE = "提交第三方鉴定，鉴定期间不计入处理期限"
EN_PAUSE = "Sent for outside appraisal; the time it takes does not count"
ZH_RESUME = "鉴定结果已出"
EN_RESUME = "Appraisal report received"
ZH_RESTART = "客户补充新材料"
EN_RESTART = "New documents arrived"
ZH_WITHDRAW = "客户来电撤回投诉"
EN_WITHDRAW = "Customer withdrew the complaint after our call-back"
ZH_ROOT = ("系统参数配置错误", "员工未按规定告知", "外包催收机构违规")
EN_ROOT = ("Wrong fee parameter in the card system", "Staff skipped the disclosure script")
