"""The phrases page surfaces a word and a Chinese phrase planted in detractors' comments (and a
word of the promoters'), links each to its comments, keeps its result until the answers
change, and leaves jieba unloaded until Chinese has to be cut."""

import subprocess
import sys
from collections import Counter

from portal.surveys.phrases import fightin_words, terms
from tests.factories import make_programme
from tests.support.survey_answers import add_answers

DETRACTORS = [
    "I was overcharged and nobody called back",
    "Overcharged twice, the app kept failing",
    "还款困难，客服不理",
    "我还款困难，应用总是出错",
]
PROMOTERS = [
    "Friendly staff, the app works",
    "Very friendly and quick",
    "服务周到，应用好用",
    "客服热情，处理及时",
]


def plant(programme):
    for number, comment in enumerate(DETRACTORS * 10):
        add_answers(programme, {number % 7: 1}, comment=comment)
    for comment in PROMOTERS * 10:
        add_answers(programme, {10: 1}, comment=comment)
    add_answers(programme, {8: 5}, comment="overcharged overcharged")  # passives are not read


def test_planted_words_and_phrases_come_out_on_their_side(client, login_as):
    login_as("lead")
    programme = make_programme()
    plant(programme)
    response = client.get(f"/surveys/programmes/{programme.id}/phrases?period=30d")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    low = html[html.index('id="low-terms"') : html.index('id="high-terms"')]
    high = html[html.index('id="high-terms"') :]
    assert ">overcharged</a>" in low and ">还款困难</a>" in low
    assert ">friendly</a>" in high and "overcharged" not in high
    assert "Comments read: 40 from Detractors (0–6), 40 from Promoters (9–10)." in html
    assert "log-odds" in html and "20,000" in html
    phrase = "%E8%BF%98%E6%AC%BE%E5%9B%B0%E9%9A%BE"  # 还款困难
    link = (
        f"/surveys/programmes/{programme.id}/comments?phrase={phrase}&amp;group=low&amp;period=30d"
    )
    assert link in low
    comments = client.get(link.replace("&amp;", "&")).get_data(as_text=True)
    assert "我还款困难" in comments and "Friendly staff" not in comments


def test_the_result_is_kept_until_an_answer_comes(app, db, client, login_as):
    login_as("lead")
    programme = make_programme()
    plant(programme)
    url = f"/surveys/programmes/{programme.id}/phrases"
    client.get(url)
    cached = len(app.extensions["surveys_phrases_cache"])
    client.get(url)
    assert len(app.extensions["surveys_phrases_cache"]) == cached
    add_answers(programme, {0: 1}, comment="overcharged")
    client.get(url)
    assert len(app.extensions["surveys_phrases_cache"]) == cached + 1


def test_english_is_cut_into_words_without_stop_words_and_phrases_stay_within_a_run():
    assert terms("The LATE fee, and the app!") == {"late", "fee", "late fee", "app"}
    assert "fee app" not in terms("late fee. App crashed")
    assert terms("<script>alert(1)</script>") == {"script", "alert"}  # markup breaks a run


def test_a_term_in_both_groups_alike_is_on_neither_side():
    low = Counter({"overcharged": 30, "app": 20})
    high = Counter({"friendly": 30, "app": 20})
    low_side, high_side = fightin_words(low, high)
    assert [t.text for t in low_side] == ["overcharged"]
    assert [t.text for t in high_side] == ["friendly"]


def test_jieba_is_not_loaded_when_the_app_starts():
    code = (
        "import sys\n"
        "from portal import create_app\n"
        "create_app({'SQLALCHEMY_DATABASE_URI': 'sqlite://', 'SECRET_KEY': 'x'})\n"
        "print('jieba' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
