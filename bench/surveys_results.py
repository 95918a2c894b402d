"""The survey results pages on a programme with 300,000 answers: median server time of the
results and drivers pages, the phrases page cold and warm, against a floor.

    python -m bench.surveys_results --database sqlite        # /tmp/surveys300k.sqlite3
    python -m bench.surveys_results --database postgresql    # …/portal_surveys300k
    python -m bench.surveys_results --database sqlite --answers 30000 --repeat 5

The dataset is built once in the bench's own database (migrated to the latest revision, then
filled with bulk inserts) and kept: a later run that finds the programme with the same number
of answers reuses it. One NPS programme after closed tickets: 300,000 answers spread over the
last 365 days, each with an invitation whose outbox message was sent, and half as many again
invitations never answered (a quarter of their messages still queued); facts in a realistic
spread (12 causes, 8 channels, 20 handlers, days to resolve mostly under a week with a long
tail, 8 % of clocks breached, 4 segments, 8 products), the score depending on them (pricing
and debt-collection causes, slow and breached tickets and two handlers score lower), 40 % with
a comment from a handful of English and Chinese templates per score group, 1 in 9 detractors
with a follow-up ticket.

The database is then rolled up as the demo seed and the hourly job leave it
(portal/surveys/rollups.py), and the roll-up itself is timed: a full rebuild (every rollup
forgotten and made again from the 300,000 answers), the daily step of the hourly job (the
answers and invitations of one more day: the last day's rollups forgotten, then rolled again)
and an hourly run with nothing new to roll.

Each page is asked through the Flask test client by a signed-in lead (no sign-in writes),
`--warmup` times untimed, then `--repeat` times timed; the report gives the median and p90.
The floor, measured in the same run, is one COUNT(*) of the period's answers on the
(programme, answered_at) index: the least any page about those answers must read. The phrases
page is timed cold (its cache emptied before each request) and warm. The report ends with the
query plans (EXPLAIN) of the statements the results and drivers pages send, and the load
average of the machine before and after. Reports go to
bench/results/surveys-results-<dialect>.md; see bench/README.md.
"""

from __future__ import annotations

import argparse
import itertools
import math
import os
import random
import statistics
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from bench.common import (
    RESULTS,
    code_version,
    percentile,
    portal_app,
    signed_in_client,
    software_versions,
    write_text,
)

DATABASES = {
    "sqlite": "sqlite:////tmp/surveys300k.sqlite3",
    "postgresql": "postgresql+psycopg://postgres@127.0.0.1:5432/portal_surveys300k",
}
PROGRAMME = "Bench NPS after closed tickets"
TARGET_MS = 150.0
CHUNK = 10_000

CAUSES = [
    ("C01", 14, 0),
    ("C02", 10, 0),
    ("C03", 14, 0),
    ("C04", 6, -1),
    ("C05", 6, 0),
    ("C06", 5, 0),
    ("C07", 18, -2),
    ("C08", 7, -3),
    ("C09", 3, 0),
    ("C10", 6, -1),
    ("C11", 4, 0),
    ("C99", 7, 0),
]
CHANNELS = ["A01", "A02", "A0301", "A0302", "A0303", "A0304", "A04", "A99"]
SEGMENTS = [("mass", 70), ("affluent", 20), ("private", 3), ("small_business", 7)]
PRODUCTS = [
    "Credit card",
    "Personal loan",
    "Car loan",
    "Mortgage",
    "Instalment plan",
    "Overdraft",
    "Business loan",
    "Student loan",
]
COMMENTS = {
    ("low", "en"): [
        "I was charged a {fee} fee after I had already paid",
        "Nobody called me back for {days} days",
        "The app kept failing when I tried to repay",
        "Collection calls at night are not acceptable",
        "Your staff were rude and the {product} terms were never explained",
    ],
    ("low", "zh"): [
        "已经还款了还被收取{fee}元手续费",
        "等了{days}天都没有人回电话",
        "催收电话太频繁，晚上也打",
        "手机银行还款总是失败",
        "客服态度差，{product}的条款没有解释清楚",
    ],
    ("middle", "en"): [
        "It took a while but it was sorted",
        "Fine in the end, the {product} process is slow",
        "Okay service, could be faster",
    ],
    ("middle", "zh"): [
        "处理得还可以，就是有点慢",
        "{product}的流程比较繁琐",
        "问题解决了，但等了{days}天",
    ],
    ("high", "en"): [
        "Quick and friendly, thank you",
        "The advisor explained my {product} clearly",
        "Solved in one call, great service",
        "Fee refunded the same day",
    ],
    ("high", "zh"): [
        "客服很耐心，解释得很清楚",
        "一次就解决了问题，效率很高",
        "手续费当天就退回了，谢谢",
        "服务热情周到",
    ],
}


# ---------------------------------------------------------------- building the dataset


def _create_database(url: str) -> None:
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        return
    admin = sa.create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        exists = connection.execute(
            sa.text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": parsed.database}
        ).scalar()
        if not exists:
            connection.execute(sa.text(f'CREATE DATABASE "{parsed.database}"'))
    admin.dispose()


def _pick(rng: random.Random, weighted: list[tuple[Any, int]]) -> Any:
    return rng.choices([v for v, _w in weighted], weights=[w for _v, w in weighted])[0]


def _score(rng: random.Random, lean: float) -> int:
    """A 0–10 score: a detractor-heavy mix like the check figure's, moved by `lean`."""
    base = rng.gauss(6.2 + lean, 3.0)
    return max(0, min(10, round(base)))


def _comment(rng: random.Random, group: str, language: str) -> str:
    template = rng.choice(COMMENTS[group, language])
    return template.format(
        fee=rng.choice([35, 50, 80, 120]),
        days=rng.randint(3, 20),
        product=rng.choice(PRODUCTS)
        if language == "en"
        else rng.choice(["信用卡", "贷款", "分期"]),
    )


def build(app: Any, answers: int, seed: int = 14) -> int:
    """The programme and its rows; returns the programme id. Reused when already built."""
    from flask_migrate import upgrade

    from portal.accounts.models import User
    from portal.core.extensions import db
    from portal.messaging.models import Message
    from portal.surveys.models import SurveyAnswer, SurveyInvitation, SurveyProgramme

    with app.app_context():
        upgrade()
        found = db.session.scalar(
            sa.select(SurveyProgramme).where(SurveyProgramme.name == PROGRAMME)
        )
        if found is not None:
            have = db.session.scalar(
                sa.select(sa.func.count()).where(SurveyAnswer.programme_id == found.id)
            )
            if have == answers:
                return found.id
            raise SystemExit(
                f"bench: {PROGRAMME!r} has {have} answers, not {answers}; drop the database."
            )
        rng = random.Random(seed)
        now = datetime.now(UTC)
        unusable = "!"  # no password hash matches it: nobody signs in with a password here
        lead = User(
            email="lead@bench.example.com", name="Bench Lead", role="lead", password_hash=unusable
        )
        handlers = [
            User(
                email=f"handler{n}@bench.example.com",
                name=f"Handler {n:02d}",
                role="handler",
                password_hash=unusable,
            )
            for n in range(20)
        ]
        db.session.add_all([lead, *handlers])
        programme = SurveyProgramme(
            name=PROGRAMME,
            metric="nps",
            trigger="ticket_closed",
            active=True,
            active_since=now - timedelta(days=400),
            question_en="How likely are you to recommend us?",
            question_zh="您向朋友推荐我们的可能性有多大？",
            choices=[],
        )
        db.session.add(programme)
        db.session.commit()
        handler_ids = [h.id for h in handlers]
        slow_handlers = set(handler_ids[:2])
        follow_ups = _follow_up_tickets(handlers[0], 300)
        invitations = answers + answers // 2
        programme_id = programme.id
        db.session.close()  # its connection would hold SQLite's write lock
        started = time.perf_counter()
        engine = db.engine
        with engine.begin() as connection:
            messages, invites, rows = [], [], []
            follow = itertools.cycle(follow_ups)
            for number in range(invitations):
                answered = number < answers
                created = now - timedelta(seconds=rng.uniform(0, 365 * 86400))
                key = f"bench:{programme_id}:{number}"
                sent = answered or rng.random() > 0.25
                messages.append(
                    {
                        "dedupe_key": key,
                        "purpose": "survey",
                        "kind": "survey",
                        "transactional": False,
                        "to_address": f"c{number}@mail.example.com",
                        "locale": "en",
                        "subject": "How did we do?",
                        "body_text": "",
                        "body_html": "",
                        "headers": {},
                        "status": "sent" if sent else "queued",
                        "attempts": 1 if sent else 0,
                        "created_at": created,
                        "sent_at": created + timedelta(minutes=5) if sent else None,
                    }
                )
                invites.append(
                    {
                        "id": number + 1,
                        "programme_id": programme.id,
                        "dedupe_key": key,
                        "locale": "en",
                        "nonce": f"{number:032x}",
                        "token_hash": f"{number:064x}",
                        "status": "answered" if answered else "invited",
                        "message_key": key,
                        "subject_label": "",
                        "created_at": created,
                        "send_at": created,
                        "expires_at": created + timedelta(days=14),
                        "answered_at": created + timedelta(hours=rng.uniform(1, 72))
                        if answered
                        else None,
                    }
                )
                if answered:
                    rows.append(
                        _answer(
                            rng,
                            programme_id,
                            number + 1,
                            invites[-1]["answered_at"],
                            handler_ids,
                            slow_handlers,
                            follow,
                        )
                    )
                if len(messages) >= CHUNK:
                    _flush(
                        connection, Message, SurveyInvitation, SurveyAnswer, messages, invites, rows
                    )
            _flush(connection, Message, SurveyInvitation, SurveyAnswer, messages, invites, rows)
            if engine.dialect.name == "postgresql":
                connection.exec_driver_sql(
                    "SELECT setval(pg_get_serial_sequence('survey_invitations', 'id'), "
                    "(SELECT max(id) FROM survey_invitations))"
                )
        with engine.connect() as connection:
            if engine.dialect.name == "postgresql":
                connection.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql(
                    "VACUUM ANALYZE"
                )
            else:
                connection.exec_driver_sql("ANALYZE")
                connection.commit()
        print(
            f"  built {answers:,} answers, {invitations:,} invitations "
            f"in {time.perf_counter() - started:.0f} s",
            flush=True,
        )
        return programme_id


def _follow_up_tickets(handler: Any, count: int) -> list[int]:
    """Follow-up tickets registered through the tickets use case, two in three then closed;
    the answers' follow-ups share them (the join is what is measured, not the tickets)."""
    from portal.accounts.services import actor_for
    from portal.core.extensions import db
    from portal.core.transaction import transaction
    from portal.tickets import services
    from portal.tickets.models import Ticket

    actor = actor_for(handler)
    ids = []
    with transaction():
        for number in range(count):
            made = services.create_ticket(
                actor,
                services.TicketInput(
                    kind="feedback",
                    subject=f"Survey follow-up {number}",
                    channel_code="A0303",
                    business_code="B0302",
                    cause_code="C07",
                ),
            )
            ids.append(made.id)
    with transaction():
        db.session.execute(
            sa.update(Ticket).where(Ticket.id.in_(ids[: count * 2 // 3])).values(is_open=False)
        )
    return ids


def _answer(
    rng: random.Random,
    programme_id: int,
    invitation_id: int,
    answered_at: datetime,
    handler_ids: list[int],
    slow_handlers: set[int],
    follow: Any,
) -> dict[str, Any]:
    from portal.surveys.models import score_group

    cause, _weight, lean = rng.choices(CAUSES, weights=[c[1] for c in CAUSES])[0]
    resolve = min(90, int(rng.expovariate(1 / 6)))
    breached = rng.random() < 0.08
    handler = rng.choice(handler_ids)
    lean += -1.5 if breached else 0.0
    lean += -1.0 if resolve > 15 else 0.3 if resolve <= 3 else 0.0
    lean += -1.0 if handler in slow_handlers else 0.0
    point = _score(rng, lean)
    group = score_group("nps", point)
    language = "zh" if rng.random() < 0.6 else "en"
    words = {-1: "low", 0: "middle", 1: "high"}[group]
    return {
        "programme_id": programme_id,
        "invitation_id": invitation_id,
        "score": point,
        "score_group": group,
        "comment": _comment(rng, words, language) if rng.random() < 0.4 else "",
        "locale": "zh_Hans" if language == "zh" else "en",
        "source": "web",
        "answered_at": answered_at,
        "segment": _pick(rng, SEGMENTS),
        "product": rng.choice(PRODUCTS),
        "cause_code": cause,
        "channel_code": rng.choice(CHANNELS),
        "handler_id": handler,
        "resolve_days": resolve,
        "breached": breached,
        "follow_up_ticket_id": next(follow, None) if group == -1 and rng.random() < 1 / 9 else None,
    }


def _flush(
    connection: Any, message: Any, invitation: Any, answer: Any, *batches: list[dict[str, Any]]
) -> None:
    for model, batch in zip((message, invitation, answer), batches, strict=True):
        if batch:
            connection.execute(sa.insert(model), batch)
            batch.clear()


# ---------------------------------------------------------------- timing


def timed(client: Any, url: str, warmup: int, repeat: int, before: Any = None) -> list[float]:
    for _ in range(warmup):
        if before:
            before()
        _check(client.get(url), url)
    times = []
    for _ in range(repeat):
        if before:
            before()
        started = time.perf_counter()
        response = client.get(url)
        times.append((time.perf_counter() - started) * 1000)
        _check(response, url)
    return times


def _check(response: Any, url: str) -> None:
    if response.status_code != 200:
        raise SystemExit(f"bench: {url} answered {response.status_code}")


def floor_times(app: Any, programme_id: int, start: datetime | None, repeat: int) -> list[float]:
    from portal.core.extensions import db
    from portal.surveys.models import SurveyAnswer

    query = sa.select(sa.func.count()).where(SurveyAnswer.programme_id == programme_id)
    if start is not None:
        query = query.where(SurveyAnswer.answered_at >= start)
    times = []
    with app.app_context():
        for _ in range(repeat + 1):
            started = time.perf_counter()
            db.session.scalar(query)
            times.append((time.perf_counter() - started) * 1000)
        db.session.rollback()
    return times[1:]


# ---------------------------------------------------------------- the rollups


def roll_up_times(app: Any, programme_id: int) -> list[str]:
    """Rollups as the seed and the job leave them, and the time each kind of roll-up takes."""
    from portal.core.extensions import db
    from portal.core.transaction import transaction
    from portal.surveys import rollups
    from portal.surveys.rollup_models import SurveyRollupFunnel, SurveyRollupMark

    lines = ["| roll-up | seconds | answer days | invitation days |", "|---|---:|---:|---:|"]

    def timed_run(name: str, before: Any = None) -> None:
        with app.app_context():
            if before is not None:
                before()
            started = time.perf_counter()
            done = rollups.roll_up(programme_id)
            seconds = time.perf_counter() - started
            db.session.remove()
        line = f"| {name} | {seconds:.2f} | {done['answer_days']} | {done['invitation_days']} |"
        print(line, flush=True)
        lines.append(line)

    def forget_all() -> None:
        rollups.rebuild(programme_id)

    def forget_last_day() -> None:
        """The rollups of the last rolled day of answers and of invitations forgotten, as
        though that day had just become final: what the job finds once a day."""
        mark = db.session.get(SurveyRollupMark, programme_id)
        assert mark is not None and mark.answers_through and mark.invitations_through
        with transaction():
            rollups.invalidate(programme_id, mark.answers_through)
            db.session.execute(
                sa.delete(SurveyRollupFunnel).where(
                    SurveyRollupFunnel.programme_id == programme_id,
                    SurveyRollupFunnel.day == mark.invitations_through,
                )
            )
            mark = db.session.get(SurveyRollupMark, programme_id, populate_existing=True)
            mark.invitations_until = mark.invitations_until - timedelta(days=1)
            mark.invitations_through = mark.invitations_through - timedelta(days=1)

    timed_run("full rebuild (every rollup forgotten first)", forget_all)
    timed_run("daily step (one more day of answers and of invitations)", forget_last_day)
    timed_run("hourly run, nothing new")
    with app.app_context(), db.engine.connect() as connection:  # as autovacuum would
        if db.engine.dialect.name == "postgresql":
            connection.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("ANALYZE")
        else:
            connection.exec_driver_sql("ANALYZE")
            connection.commit()
    return lines


def query_plans(app: Any, client: Any, urls: list[str]) -> list[str]:
    """EXPLAIN of each SELECT the pages at `urls` send (run again with the same parameters)."""
    from portal.core.extensions import db

    sent: list[tuple[str, Any]] = []

    def note(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_args: Any) -> None:
        if statement.lstrip().upper().startswith(("SELECT", "WITH")):
            sent.append((statement, parameters))

    with app.app_context():
        engine = db.engine
    sa.event.listen(engine, "before_cursor_execute", note)
    try:
        for url in urls:
            _check(client.get(url), url)
    finally:
        sa.event.remove(engine, "before_cursor_execute", note)
    explain = "EXPLAIN QUERY PLAN " if engine.dialect.name == "sqlite" else "EXPLAIN "
    lines: list[str] = []
    seen: set[str] = set()
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        for statement, parameters in sent:
            if statement in seen or "survey" not in statement:
                continue
            seen.add(statement)
            cursor.execute(explain + statement, parameters)
            plan = [
                " ".join(str(cell) for cell in row[-1:])
                if engine.dialect.name == "sqlite"
                else str(row[0])
                for row in cursor.fetchall()
            ]
            lines += ["```sql", " ".join(statement.split())[:600], "```", "```", *plan, "```", ""]
        raw.rollback()
    finally:
        raw.close()
    return lines


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f} (1, 5, 15 min; {os.cpu_count()} cores)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", choices=sorted(DATABASES), default="sqlite")
    parser.add_argument("--database-url", help="instead of the default URL of --database")
    parser.add_argument("--answers", type=int, default=300_000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    url = args.database_url or DATABASES[args.database]
    if args.answers != 300_000 and not args.database_url:
        url = url.replace("300k", f"{args.answers // 1000}k")
    _create_database(url)
    app = portal_app(url)
    load_before = load_average()
    programme_id = build(app, args.answers)
    rollup_lines = roll_up_times(app, programme_id)
    from portal.accounts.models import User
    from portal.core.extensions import db

    with app.app_context():
        lead = db.session.scalar(sa.select(User).where(User.email == "lead@bench.example.com"))
        lead_id = lead.get_id()
        db.session.close()
        versions = software_versions(db.engine)
    client = signed_in_client(app, lead_id)
    base = f"/surveys/programmes/{programme_id}"
    now = datetime.now(UTC)
    cases = [
        ("results, last 90 days", f"{base}/results?period=90d", now - timedelta(days=90)),
        ("results, all answers", f"{base}/results?period=all", None),
        ("drivers, last 90 days", f"{base}/drivers?period=90d", now - timedelta(days=90)),
        ("drivers, all answers", f"{base}/drivers?period=all", None),
        ("comments, first page", f"{base}/comments?period=all", None),
        ("phrases warm, all answers", f"{base}/phrases?period=all", None),
    ]
    lines = [
        "# Survey results pages on 300,000 answers\n",
        f"- run: {now:%Y-%m-%d %H:%M} UTC, `{make_url(url).render_as_string(hide_password=True)}`",
        f"- {versions}; portal code: {code_version()}",
        f"- {args.answers:,} answers; {args.warmup} untimed then {args.repeat} timed requests "
        f"per case; target median < {TARGET_MS:g} ms for results and drivers\n",
        "| case | median ms | p90 ms | floor median ms | ratio |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, case_url, start in cases:
        portal_ms = timed(client, case_url, args.warmup, args.repeat)
        floor_ms = floor_times(app, programme_id, start, args.repeat)
        median, floor = statistics.median(portal_ms), statistics.median(floor_ms)
        ratio = median / floor if floor > 0 else math.nan
        p90 = percentile(portal_ms, 90)
        line = f"| {name} | {median:.1f} | {p90:.1f} | {floor:.1f} | {ratio:.1f}× |"
        print(line, flush=True)
        lines.append(line)

    def forget() -> None:
        app.extensions.get("surveys_phrases_cache", {}).clear()

    cold = timed(client, f"{base}/phrases?period=all", 0, max(3, args.repeat // 5), before=forget)
    cold_median = statistics.median(cold)
    line = f"| phrases cold (cache emptied) | {cold_median:.1f} | {max(cold):.1f} | — | — |"
    print(line, flush=True)
    lines.append(line)
    lines += ["", *rollup_lines, ""]
    plans = query_plans(app, client, [f"{base}/results?period=90d", f"{base}/drivers?period=90d"])
    lines += ["## Query plans (results and drivers, last 90 days)", "", *plans]
    lines.append(f"- load average before: {load_before}; after: {load_average()}")
    out = args.out or RESULTS / f"surveys-results-{make_url(url).get_backend_name()}.md"
    write_text(out, "\n".join(lines) + "\n")
    print(f"report: {out}")


if __name__ == "__main__":
    main()
