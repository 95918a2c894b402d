"""The drivers table: on answers where one ticket cause is clearly worse, that cause comes first,
named with its factor and marked significantly lower; small groups are flagged, not tested; the
RM-contact factors appear only for RM-contact programmes; the tests of significance agree with
scipy's."""

import re

import pytest
from scipy import stats

from portal.surveys.drivers import Group, _holm, _p_value
from portal.surveys.scores import score
from tests.factories import make_programme, make_user
from tests.support.survey_answers import add_answers


def rows(html):
    """(factor, value, cells text) of every row of the drivers table, in order."""
    table = html[html.index('id="drivers"') : html.index("</table>", html.index('id="drivers"'))]
    found = re.findall(r'<tr data-factor="([^"]+)" data-value="([^"]*)">(.*?)</tr>', table, re.S)
    return [
        (factor, value, re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", cells)))
        for factor, value, cells in found
    ]


def test_the_worst_cause_ranks_first_and_is_marked(client, login_as):
    login_as("lead")
    programme = make_programme()
    handler = make_user(role="handler", name="Hao Handler")
    common = {"channel_code": "A0303", "segment": "mass", "handler_id": handler.id}
    add_answers(
        programme,
        {0: 70, 8: 20, 10: 10},
        cause_code="C07",
        resolve_days=20,
        breached=True,
        **common,
    )
    add_answers(
        programme,
        {0: 15, 8: 25, 10: 60},
        cause_code="C01",
        resolve_days=2,
        breached=False,
        **common,
    )
    add_answers(
        programme,
        {0: 20, 8: 30, 10: 50},
        cause_code="C03",
        resolve_days=20,
        breached=False,
        **common,
    )
    add_answers(
        programme, {0: 4, 10: 6}, cause_code="C02", resolve_days=40, breached=True, **common
    )
    response = client.get(f"/surveys/programmes/{programme.id}/drivers")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Overall NPS: 5.5 ± " in html  # 126 promoters, 109 detractors of 310
    table = rows(html)
    factor, value, cells = table[0]
    assert (factor, value) == ("cause", "C07")
    assert "Cause of the ticket" in cells and "C07 Pricing and fees" in cells
    assert "▼ Significantly lower" in cells and "\u221265.5" in cells  # −60.0 against 5.5
    by_key = {(f, v): c for f, v, c in table}
    assert "▲ Significantly higher" in by_key["cause", "C01"]
    assert "Too few answers" in by_key["cause", "C02"]
    assert [key for key in by_key if key[0] == "cause"][-1] == ("cause", "C02")  # small ones last
    assert (
        "Clock breached" in by_key["breached", "yes"] and "16–30 days" in by_key["resolve", "16-30"]
    )
    assert "Hao Handler" in by_key["handler", str(handler.id)]
    assert "Not significant" in by_key["segment", "mass"]  # every answer: no rest to differ from
    assert not any(f in ("contact_channel", "since_contact") for f, _v, _c in table)
    small = [i for i, (_f, _v, c) in enumerate(table) if "Too few answers" in c]
    assert small and min(small) > max(
        i for i, (_f, _v, c) in enumerate(table) if "Too few" not in c
    )


def test_rm_contact_programmes_break_down_by_contact(client, login_as):
    login_as("admin")
    programme = make_programme(metric="ces", trigger="rm_contact")
    add_answers(programme, {7: 30, 6: 10, 1: 5}, contact_channel="call", days_since_contact=3)
    add_answers(programme, {7: 5, 2: 30, 1: 10}, contact_channel="email", days_since_contact=120)
    html = client.get(f"/surveys/programmes/{programme.id}/drivers").get_data(as_text=True)
    by_key = {(f, v): c for f, v, c in rows(html)}
    assert "Email" in by_key["contact_channel", "email"]
    assert "▼ Significantly lower" in by_key["contact_channel", "email"]
    assert "More than 90 days" in by_key["since_contact", "91+"]
    assert "▲ Significantly higher" in by_key["since_contact", "0-7"]


def test_an_empty_period_shows_an_empty_table(client, login_as):
    login_as("lead")
    programme = make_programme()
    html = client.get(f"/surveys/programmes/{programme.id}/drivers").get_data(as_text=True)
    assert "No answers with these facts in this period." in html


def test_the_proportion_test_is_scipys_two_sample_z_test():
    mine, rest = score("csat", 40, 10, 50), score("csat", 300, 50, 150)
    pooled = (40 + 300) / 600
    z = (0.4 - 0.6) / (pooled * (1 - pooled) * (1 / 100 + 1 / 500)) ** 0.5
    assert _p_value("csat", mine, rest) == pytest.approx(2 * stats.norm.sf(abs(z)))


def test_the_nps_test_uses_the_variance_of_each_nps():
    mine, rest = score("nps", 20, 30, 50), score("nps", 250, 150, 100)
    v1 = (0.2 * 0.8 + 0.5 * 0.5 + 2 * 0.2 * 0.5) / 100
    v2 = (0.5 * 0.5 + 0.2 * 0.8 + 2 * 0.5 * 0.2) / 500
    z = ((0.2 - 0.5) - (0.5 - 0.2)) / (v1 + v2) ** 0.5
    assert _p_value("nps", mine, rest) == pytest.approx(2 * stats.norm.sf(abs(z)))


def test_holm_keeps_only_what_survives_the_number_of_tests():
    def group(p):
        return Group("cause", str(p), "", score("nps", 1, 1, 1), 0.0, p)

    groups = [group(0.001), group(0.03), group(0.04)]  # thresholds .05/3, .05/2, .05/1
    assert _holm(groups) == 3
    assert [g.significant for g in groups] == [True, False, False]
