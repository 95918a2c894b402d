"""What customers talk about: the words and two-word phrases that set the low group's comments
apart from the high group's.

Method (docs/surveys.md, "What customers talk about"): the weighted log-odds ratio with an
informative Dirichlet prior of Monroe, Colaresi & Quinn (2008, "Fightin' Words"). For a term w
counted y_w times among the low comments (n words in all) and y'_w among the high ones (n'),
with the prior α_w taken from the whole corpus (α_w = y_w + y'_w, α0 = Σα_w):

    δ_w = log((y_w + α_w) / (n + α0 − y_w − α_w)) − log((y'_w + α_w) / (n' + α0 − y'_w − α_w))
    σ²_w ≈ 1 / (y_w + α_w) + 1 / (y'_w + α_w),   z_w = δ_w / σ_w

A term counts once per comment (a customer repeating a word says it once). Chinese is segmented
with jieba, English lower-cased and cut into letters and digits; stop words of both are dropped;
a phrase is two neighbouring kept words. The work is bounded: the most recent CAP comments of
each group in the period, and the result is kept in memory per (programme, period, the period's
answer count and latest answer id), so a page asked again without new answers is not computed
again.
"""

import logging
import math
import re
import threading
from collections import Counter, OrderedDict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

from flask import Flask, current_app
from sqlalchemy import func, select

from portal.core.extensions import db
from portal.surveys.models import ScoreGroup, SurveyAnswer, SurveyProgramme
from portal.surveys.results import Period, in_period

CAP = 20_000  # comments per group, the most recent in the period
TOP = 25  # terms shown on each side
MIN_COMMENTS = 3  # a term must appear in at least this many comments
CACHE_SIZE = 32

ENGLISH_STOP_WORDS = frozenset(
    " ".join(
        (
            "  a about above after again against all also am an and any are aren't as at be",
            "because been before being below between both but by can can't cannot could",
            "couldn't did didn't do does doesn't doing don't down during each even ever every",
            "few for from further get got had hadn't has hasn't have haven't having he her here",
            "hers herself him himself his how i i'm i've if in into is isn't it it's its itself",
            "just let's like made make me more most much must my myself no nor not now of off",
            "on once one only or other ought our ours ourselves out over own really same she",
            "should shouldn't so some still such than that that's the their theirs them",
            "themselves then there there's these they they're this those through to too under",
            "until up upon us very was wasn't we we're were weren't what what's when where",
            "which while who whom why will with won't would wouldn't yet you you're your yours",
            "yourself yourselves im ive dont didnt cant wont isnt wasnt",
        )
    ).split()
)
CHINESE_STOP_WORDS = frozenset(
    " ".join(
        (
            "  的 了 是 在 我 我们 你 你们 他 她 它 他们 和 与 及 或 也 就 都 而 但 但是",
            "又 还 很 非常 太 最 更 被 把 让 给 对 从 到 为 为了 以 之 这 那 这个 那个 这样",
            "那样 有 没有 没 不 吗 呢 吧 啊 呀 哦 嗯 着 过 会 能 可以 要 想 说 一个 一些",
            "一下 什么 怎么 如何 因为 所以 如果 虽然 然后 已经 自己 其他 一直 比较 时候 感觉 觉得",
            "还是 就是 真的 有点 一点 这次 那次 上 下 中 里 后 前 个 次 些",
        )
    ).split()
)
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
_LATIN = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")

log = logging.getLogger(__name__)
_segmenter: Any = None
_segmenter_lock = threading.Lock()


def _jieba() -> Any:
    """jieba's tokenizer, its dictionary loaded once per process, quietly, on first use (about
    a second), never at start-up or by a page that has no Chinese to cut."""
    global _segmenter
    if _segmenter is None:
        with _segmenter_lock:
            if _segmenter is None:
                import jieba

                jieba.setLogLevel(logging.WARNING)
                tokenizer = jieba.Tokenizer()
                tokenizer.initialize()
                _segmenter = tokenizer
    return _segmenter


def _words(text: str) -> Iterator[list[str]]:
    """The comment's runs of kept words; a stop word, punctuation or a change of script ends a
    run, so a phrase never spans them."""
    position = 0
    for chinese in _CJK.finditer(text):
        yield from _latin_runs(text[position : chinese.start()])
        run: list[str] = []
        for word in _jieba().lcut(chinese.group(), HMM=True):
            if word in CHINESE_STOP_WORDS:
                if run:
                    yield run
                run = []
            else:
                run.append(word)
        if run:
            yield run
        position = chinese.end()
    yield from _latin_runs(text[position:])


def _latin_runs(text: str) -> Iterator[list[str]]:
    for piece in re.split(r"[^\w\s']+|_", text.lower()):
        run: list[str] = []
        for word in _LATIN.findall(piece):
            if word in ENGLISH_STOP_WORDS or len(word) < 2 or word.isdigit():
                if run:
                    yield run
                run = []
            else:
                run.append(word)
        if run:
            yield run


def _join(first: str, second: str) -> str:
    return first + second if _CJK.match(first) and _CJK.match(second) else f"{first} {second}"


def terms(text: str) -> set[str]:
    """The words and two-word phrases of one comment, each once."""
    found: set[str] = set()
    for run in _words(text):
        found.update(run)
        found.update(_join(a, b) for a, b in pairwise(run))
    return found


@dataclass(frozen=True)
class Term:
    text: str
    z: float
    low: int  # comments of the low group that contain it
    high: int


@dataclass(frozen=True)
class Phrases:
    low_terms: list[Term]  # most typical of the low group first
    high_terms: list[Term]
    low_comments: int
    high_comments: int
    capped: bool


def fightin_words(
    low: Counter[str], high: Counter[str], top: int = TOP
) -> tuple[list[Term], list[Term]]:
    """The weighted log-odds z-scores of every term seen in at least MIN_COMMENTS comments;
    the `top` with the highest z (low side) and the lowest (high side)."""
    prior = low + high
    alpha0 = sum(prior.values())
    n_low, n_high = sum(low.values()), sum(high.values())
    scored: list[Term] = []
    for word, alpha in prior.items():
        if alpha < MIN_COMMENTS:
            continue
        y_low, y_high = low[word], high[word]
        delta = math.log((y_low + alpha) / (n_low + alpha0 - y_low - alpha)) - math.log(
            (y_high + alpha) / (n_high + alpha0 - y_high - alpha)
        )
        sigma = math.sqrt(1 / (y_low + alpha) + 1 / (y_high + alpha))
        scored.append(Term(word, delta / sigma, y_low, y_high))
    scored.sort(key=lambda t: (-t.z, t.text))
    low_side = [t for t in scored[:top] if t.z > 0]
    high_side = [t for t in reversed(scored[-top:]) if t.z < 0]
    return low_side, high_side


def _recent_comments(found: SurveyProgramme, period: Period, group: int) -> list[str]:
    return list(
        db.session.scalars(
            select(SurveyAnswer.comment)
            .where(
                SurveyAnswer.programme_id == found.id,
                in_period(SurveyAnswer.answered_at, period),
                SurveyAnswer.score_group == group,
                SurveyAnswer.comment != "",
            )
            .order_by(SurveyAnswer.answered_at.desc(), SurveyAnswer.id.desc())
            .limit(CAP)
        )
    )


def _tally(comments: Iterable[str]) -> Counter[str]:
    counted: Counter[str] = Counter()
    for comment in comments:
        counted.update(terms(comment))
    return counted


def _cache(app: Flask) -> "OrderedDict[tuple[Any, ...], Phrases]":
    return app.extensions.setdefault("surveys_phrases_cache", OrderedDict())


def _cache_lock(app: Flask) -> threading.Lock:
    return app.extensions.setdefault("surveys_phrases_lock", threading.Lock())


def phrases(found: SurveyProgramme, period: Period) -> Phrases:
    """The period's phrases, from the cache while the period's answers are unchanged."""
    count, latest = db.session.execute(
        select(func.count(), func.max(SurveyAnswer.id)).where(
            SurveyAnswer.programme_id == found.id, in_period(SurveyAnswer.answered_at, period)
        )
    ).one()
    key = (found.id, period.start, period.end, count, latest)
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    cache = _cache(app)
    with _cache_lock(app):
        if key in cache:
            cache.move_to_end(key)
            return cache[key]
    low_comments = _recent_comments(found, period, ScoreGroup.LOW)
    high_comments = _recent_comments(found, period, ScoreGroup.HIGH)
    low_terms, high_terms = fightin_words(_tally(low_comments), _tally(high_comments))
    made = Phrases(
        low_terms,
        high_terms,
        len(low_comments),
        len(high_comments),
        capped=CAP in (len(low_comments), len(high_comments)),
    )
    with _cache_lock(app):
        cache[key] = made
        while len(cache) > CACHE_SIZE:
            cache.popitem(last=False)
    return made
