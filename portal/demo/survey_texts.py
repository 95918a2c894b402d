"""What demo customers write in their survey comments, and what handlers write when they close
the follow-up, in both languages. The words are chosen so that the phrases page finds them:
detractors name fees, interest, collection calls and nobody calling back; promoters speed,
help and patience. Data only: portal/demo/surveys.py picks from these lists.
"""

# (topic) → {language → phrases}
COMMENTS: dict[str, dict[str, tuple[str, ...]]] = {
    "fees": {
        "en": (
            "The late fee was charged even though I paid on the due date.",
            "Too many hidden charges and fees on my card.",
            "The interest rate is far too high for what you offer.",
            "Nobody could explain the annual fee to me.",
        ),
        "zh": (
            "利息太高，还款压力很大。",
            "明明按时还款了还收了滞纳金。",
            "手续费不透明，收费项目太多。",
            "年费没有提前说明，乱收费。",
        ),
    },
    "collection": {
        "en": (
            "Collection calls at work every day.",
            "Your collection calls are aggressive and rude.",
            "Collection agents called my family about my debt.",
        ),
        "zh": (
            "催收电话一天打好几次，影响工作。",
            "催收电话态度很差，威胁我。",
            "催收电话打到我家人那里去了。",
        ),
    },
    "slow": {
        "en": (
            "Nobody called back for two weeks.",
            "It took over a month to sort out.",
            "I had to chase you again and again before anything happened.",
            "Nobody called back although I was promised a call.",
        ),
        "zh": (
            "等了半个月都没有人回复。",
            "处理太慢，拖了一个多月。",
            "说好回电话，结果没人打过来。",
            "催了好几次才有人处理。",
        ),
    },
    "low": {
        "en": (
            "Nobody called back.",
            "Nobody seemed to own my problem.",
            "The app kept logging me out.",
            "I was passed from one department to another.",
        ),
        "zh": (
            "没有人回电话。",
            "问题一直没有人负责。",
            "APP老是闪退，登录不了。",
            "被转来转去，没人能解决。",
        ),
    },
    "middle": {
        "en": (
            "It was fine in the end, but slow.",
            "OK, nothing special.",
            "Solved, but I had to explain it twice.",
        ),
        "zh": (
            "最后解决了，就是有点慢。",
            "还行，一般。",
            "解决了，但要重复说明好几次。",
        ),
    },
    "high": {
        "en": (
            "Quick and helpful, thank you.",
            "The staff were patient and helpful.",
            "Sorted out quickly, very professional.",
            "Helpful and quick reply.",
        ),
        "zh": (
            "客服很耐心，处理很快。",
            "服务专业，效率很高。",
            "态度很好，很快就解决了。",
            "工作人员耐心细致。",
        ),
    },
    "star": {
        "en": (
            "{name} explained everything clearly and called back as promised.",
            "{name} was patient and helpful, a quick resolution.",
        ),
        "zh": (
            "{name}非常耐心，说到做到，按时回电。",
            "{name}讲解清楚，处理很快，非常感谢。",
        ),
    },
    "email": {
        "en": (
            "Emails went back and forth and I had to repeat myself.",
            "I waited days for an email reply.",
        ),
        "zh": ("邮件来回好几次才办好。", "邮件回复太慢，等了好几天。"),
    },
    "call": {
        "en": ("One phone call and it was done.", "My RM called and fixed it on the spot."),
        "zh": ("一个电话就解决了。", "客户经理打电话来，当场就办好了。"),
    },
    "promoter": {
        "en": (
            "Quick approval and a helpful relationship manager.",
            "Fair rates and helpful staff.",
            "Always quick to answer, I recommend you to friends.",
        ),
        "zh": (
            "审批快，客户经理很耐心。",
            "利率合理，服务周到。",
            "回复及时，已经推荐给朋友了。",
        ),
    },
    "neglect": {
        "en": (
            "I never hear from my relationship manager.",
            "Nobody has contacted me in months.",
        ),
        "zh": ("从来没有客户经理联系过我。", "好几个月都没人联系我。"),
    },
}

# What the handler of a follow-up wrote when closing it: what was done.
RESOLUTIONS: dict[str, tuple[str, ...]] = {
    "en": (
        "Called the customer back, apologised and explained the charges; fee refunded.",
        "Called the customer: explained the next steps, customer satisfied with the answer.",
        "Spoke to the customer and arranged a new repayment date; collection calls stopped.",
        "Could not reach the customer after three calls; sent a written reply.",
    ),
    "zh": (
        "已回电客户，致歉并解释收费，退还滞纳金。",
        "已致电客户说明后续处理，客户表示接受。",
        "已与客户沟通并重新约定还款日，停止催收电话。",
        "三次致电未接通，已发送书面回复。",
    ),
}
NO_COMMENT = {"en": "The customer left no comment.", "zh": "客户未留下评论。"}
