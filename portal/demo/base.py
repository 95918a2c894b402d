"""What every demo seeder shares: the seed's context, the bulk insert, a weighted choice, the
name lists and the check character of resident ID numbers.

Seeders (users in seed.py, customers, tickets, care, channels) import this module and the
product rooms, never each other; seed.py lists them and runs them in order.
"""

import random
from bisect import bisect
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from itertools import islice
from typing import Any

from sqlalchemy import Insert, insert, select, update
from tqdm import tqdm

from portal.core.audit import Actor
from portal.core.extensions import db
from portal.tickets.models import ReferenceCounter

BATCH = 5_000


@dataclass
class SeedContext:
    scale: str
    rng: random.Random
    now: datetime
    actor: Actor
    show_progress: bool = True
    counts: dict[str, int] = field(default_factory=dict)

    def progress(self, iterable: Iterable[Any], total: int, desc: str) -> Iterable[Any]:
        return tqdm(iterable, total=total, desc=desc, unit="rows", disable=not self.show_progress)


def batched(rows: Iterable[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    iterator = iter(rows)
    while chunk := list(islice(iterator, size)):
        yield chunk


def bulk_insert(
    ctx: SeedContext, model: Any, rows: Iterable[dict[str, Any]], total: int, desc: str
) -> int:
    """Insert rows in batches, committing each batch, with a progress bar. `model` is a
    mapped class, a table, or an insert statement of one (to bind some columns specially)."""
    statement = model if isinstance(model, Insert) else insert(model)
    inserted = 0
    with tqdm(total=total, desc=desc, unit="rows", disable=not ctx.show_progress) as bar:
        for chunk in batched(rows, BATCH):
            db.session.execute(statement, chunk)
            db.session.commit()
            inserted += len(chunk)
            bar.update(len(chunk))
    ctx.counts[desc] = ctx.counts.get(desc, 0) + inserted
    return inserted


def pick(weights: dict[str, float]) -> Callable[[float], str]:
    """A weighted choice driven by one uniform draw in [0, 1)."""
    keys = list(weights)
    cumulative: list[float] = []
    total = 0.0
    for key in keys:
        total += weights[key]
        cumulative.append(total / sum(weights.values()))
    last = len(keys) - 1
    return lambda u: keys[min(bisect(cumulative, u), last)]


# ---------------------------------------------------------------- names

SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏"
    "魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚"
)
COMPOUND_SURNAMES = ("欧阳", "司马", "诸葛", "上官", "东方")
GIVEN = (
    "伟芳娜敏静强磊军洋勇艳杰涛明超秀英华丽平刚桂兰玉萍红鹏飞斌宇浩凯健俊帆文辉力建国志"
    "晨雪梅琳婷慧颖欣怡嘉佳子涵思雨轩博宁鑫海波峰松林云霞晓燕诗琪可馨梓萱浩然一鸣天佑"
)
ENGLISH_FIRST = (  # noqa: SIM905  (a word list reads better than 52 quoted items)
    "Olivia Noah Amelia George Isla Harry Ava Jack Mia Leo Oliver Charlotte "
    "Arthur Grace Muhammad Sophia Oscar Lily Henry Freya Theodore Emily Thomas Ella "
    "Archie Ivy William Florence James Evie Alfie Poppy Joshua Rosie Jacob Daisy "
    "Lucas Sienna Edward Alice Samuel Phoebe Daniel Matilda Benjamin Hannah Michael Chloe "
    "David Sarah Ethan Zoe"
).split()
ENGLISH_LAST = (  # noqa: SIM905  (a word list reads better than 52 quoted items)
    "Smith Jones Taylor Brown Williams Wilson Johnson Davies Robinson Wright Thompson Evans "
    "Walker White Roberts Green Hall Wood Jackson Clarke Patel Khan Lewis James "
    "Phillips Mason Mitchell Rose Davis Rodriguez Cox Alexander Morgan Moore Mills King "
    "Lee Chan Wong Cooper Ward Turner Hughes Edwards Hill Scott Baker Harris "
    "Martin Young Allen Carter"
).split()


# ---------------------------------------------------------------- resident ID numbers

ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK = "10X98765432"


def with_check_character(body: str) -> str:
    """The 17 digits of a resident ID with their ISO 7064 MOD 11-2 check character added."""
    return body + ID_CHECK[sum(int(d) * w for d, w in zip(body, ID_WEIGHTS, strict=True)) % 11]


def store_reference_counters(counters: dict[tuple[str, int], int]) -> None:
    """Move each (prefix, year) ticket-reference counter to the last number a seeder gave, so
    the next ticket made live takes the number after it; one commit."""
    have = {(c.prefix, c.year) for c in db.session.scalars(select(ReferenceCounter))}
    for (prefix, year), last in sorted(counters.items()):
        if (prefix, year) in have:
            db.session.execute(
                update(ReferenceCounter)
                .where(ReferenceCounter.prefix == prefix, ReferenceCounter.year == year)
                .values(last=last)
            )
        else:
            db.session.add(ReferenceCounter(prefix=prefix, year=year, last=last))
    db.session.commit()
