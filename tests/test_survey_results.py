"""A programme's results and comments pages show what a lead reads — the score with its margin,
the small-sample warning, the invitation funnel, the charts' tables, the closed-loop rate, the
filtered and escaped comments, the neutralised CSV — and refuse bad parameters without a 500."""

import csv
import io
import re
from datetime import timedelta

import pytest

from portal.core.extensions import db as _db
from portal.core.timeutil import utc_now
from portal.tickets.models import Ticket
from tests.factories import (
    make_customer,
    make_invitation,
    make_message,
    make_programme,
    make_ticket,
    make_user,
)
from tests.support.survey_answers import add_answers

CHECK_FIGURE = {10: 400, 9: 290, 8: 200, 7: 192, 6: 300, 5: 300, 3: 300, 1: 200, 0: 171}


def page(client, programme, endpoint="results", query=""):
    response = client.get(f"/surveys/programmes/{programme.id}/{endpoint}{query}")
    return response, response.get_data(as_text=True)


def test_the_nps_check_figure_reads_with_its_margin(client, login_as):
    login_as("lead")
    programme = make_programme()
    add_answers(programme, CHECK_FIGURE)  # 690 promoters, 392 passives, 1,271 detractors
    response, html = page(client, programme)
    assert response.status_code == 200
    figure = re.search(r'id="score-value">([^<]*)<', html).group(1)
    assert figure == "\u221224.7 ± 3.6"
    assert "2353 answers" in html
    assert 'id="small-sample"' not in html
    assert "Promoters (9–10): 690" in html and "Detractors (0–6): 1271" in html


def test_csat_is_the_share_of_satisfied_answers_and_a_small_sample_is_said(client, login_as):
    login_as("admin")
    programme = make_programme(metric="csat")
    add_answers(programme, {5: 5, 4: 3, 3: 1, 1: 1})
    _response, html = page(client, programme)
    figure = re.search(r'id="score-value">([^<]*)<', html).group(1)
    assert figure.startswith("80.0 % ± ")
    assert 'id="small-sample"' in html and "fewer than 30 answers" in html


def test_a_programme_without_answers_says_so(client, login_as):
    login_as("lead")
    programme = make_programme()
    _response, html = page(client, programme)
    assert "No answers in this period." in html
    assert 'id="small-sample"' not in html


def test_the_response_rate_is_answered_over_delivered(client, login_as):
    login_as("lead")
    programme = make_programme()
    for number in range(5):
        invitation, _token = make_invitation(programme, make_customer())
        status = "sent" if number < 4 else "queued"
        message = make_message(status=status, dedupe_key=f"survey:{invitation.id}")
        invitation.message_key = message.dedupe_key
        if number < 2:
            invitation.status = "answered"
            invitation.answered_at = utc_now()
    refused, _token = make_invitation(programme, make_customer())
    refused.status, refused.reason = "not_sent", "no consent"
    _db.session.commit()
    _response, html = page(client, programme)
    cells = re.findall(r"<td data-label=\"[^\"]+\"[^>]*>([^<]*)</td>", html)
    assert cells[:5] == [
        "5",
        "4",
        "2",
        "50.0 %",
        "1",
    ]  # invited, delivered, answered, rate, not sent


def test_an_imported_programme_says_invitations_do_not_apply(client, login_as):
    login_as("lead")
    programme = make_programme(trigger="imported", active=False)
    add_answers(programme, {9: 3}, at=utc_now() - timedelta(days=400), source="import")
    _response, html = page(client, programme)
    assert "Invitations do not apply" in html and 'id="funnel"' not in html
    assert 'id="score-value">100.0 ± ' in html  # imported history opens on all its answers


def test_the_period_chooses_the_answers(client, login_as):
    login_as("lead")
    programme = make_programme()
    add_answers(programme, {10: 3})
    add_answers(programme, {0: 2}, at=utc_now() - timedelta(days=100))
    _response, html = page(client, programme, query="?period=30d")
    assert 'id="score-value">100.0' in html
    _response, html = page(client, programme, query="?period=all")
    assert 'id="score-value">20.0' in html
    old = (utc_now() - timedelta(days=100)).date()
    custom = f"?period=custom&from={old - timedelta(days=1)}&to={old + timedelta(days=1)}"
    _response, html = page(client, programme, query=custom)
    assert f'id="score-value">{chr(0x2212)}100.0' in html


def test_the_charts_have_tables_with_the_same_numbers_and_load_only_here(client, login_as):
    login_as("lead")
    programme = make_programme()
    add_answers(programme, {10: 4, 6: 1})
    _response, html = page(client, programme)
    assert 'data-kind="distribution"' in html and 'data-kind="trend"' in html
    table = html[
        html.index('id="distribution-table"') : html.index(
            "</table>", html.index('id="distribution-table"')
        )
    ]
    assert '<th scope="row">10</th><td>4</td>' in table
    assert '<th scope="row">6</th><td>1</td>' in table
    assert 'id="trend-table"' in html and "chart.umd.min.js" in html and "surveys-charts.js" in html
    assert "chart.umd.min.js" not in client.get("/customers").get_data(as_text=True)


def test_the_closed_loop_rate_counts_resolved_follow_ups(client, login_as):
    login_as("lead")
    programme = make_programme()
    first, second, third = make_ticket(), make_ticket(), make_ticket()
    _db.session.get(Ticket, first.id).status = "resolved"
    _db.session.get(Ticket, third.id).status = "withdrawn"  # not a loop closed
    _db.session.commit()
    add_answers(programme, {2: 1}, follow_up_ticket_id=first.id)
    add_answers(programme, {3: 1}, follow_up_ticket_id=second.id)
    add_answers(programme, {4: 1}, follow_up_ticket_id=third.id)
    add_answers(programme, {10: 1})
    _response, html = page(client, programme)
    assert "opened: 3; closed: 1; closed the loop: 33.3 %" in html


@pytest.mark.parametrize(
    "query",
    [
        "?period=decade",
        "?period=custom&from=yesterday&to=2026-01-01",
        "?period=custom&from=2026-02-30&to=2026-03-01",
        "?period=custom&from=2026-03-01&to=2026-02-01",
        "?period=custom",
    ],
)
@pytest.mark.parametrize("endpoint", ["results", "drivers", "phrases", "comments"])
def test_bad_periods_are_refused_on_the_page(client, login_as, endpoint, query):
    login_as("lead")
    programme = make_programme()
    response, html = page(client, programme, endpoint, query)
    assert response.status_code == 400
    assert 'id="period-error"' in html


@pytest.mark.parametrize("endpoint", ["results", "drivers", "phrases", "comments", "answers.csv"])
def test_an_unknown_programme_is_not_found(client, login_as, endpoint):
    login_as("lead")
    assert client.get(f"/surveys/programmes/987654/{endpoint}").status_code == 404


def test_who_may_read_what(client, login_as):
    programme = make_programme()
    expected = {
        "rm": {"results": 403, "comments": 403, "phrases": 403, "drivers": 403, "answers.csv": 403},
        "handler": {
            "results": 200,
            "comments": 200,
            "phrases": 200,
            "drivers": 403,
            "answers.csv": 403,
        },
        "lead": {
            "results": 200,
            "comments": 200,
            "phrases": 200,
            "drivers": 200,
            "answers.csv": 200,
        },
    }
    for role, pages in expected.items():
        login_as(role)
        for endpoint, status in pages.items():
            assert page(client, programme, endpoint)[0].status_code == status, (role, endpoint)
    login_as("handler")
    tabs = page(client, programme)[1]
    assert "/drivers" not in tabs and "/phrases" in tabs and "/comments" in tabs


# ---------------------------------------------------------------- comments


def test_comments_are_escaped_and_filtered(client, login_as):
    login_as("lead")
    programme = make_programme()
    handler = make_user(role="handler", name="Hu Handler")
    add_answers(
        programme,
        {0: 1},
        comment="<script>alert('x')</script> fee too high",
        cause_code="C07",
        handler_id=handler.id,
        segment="mass",
        product="Card",
    )
    add_answers(programme, {10: 1}, comment="Quick and kind", segment="affluent", locale="zh_Hans")
    add_answers(programme, {8: 1}, comment="")
    _response, html = page(client, programme, "comments")
    assert "<script>alert" not in html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; fee too high" in html
    assert "Quick and kind" in html
    assert "C07 Pricing and fees" in html and "Hu Handler" in html
    checks = {
        "?group=low": ("fee too high", "Quick and kind"),
        "?group=high": ("Quick and kind", "fee too high"),
        "?segment=affluent": ("Quick and kind", "fee too high"),
        "?cause=C07": ("fee too high", "Quick and kind"),
        f"?handler={handler.id}": ("fee too high", "Quick and kind"),
        "?language=zh_Hans": ("Quick and kind", "fee too high"),
        "?product=Card": ("fee too high", "Quick and kind"),
        "?phrase=FEE+TOO": ("fee too high", "Quick and kind"),
        "?phrase=100%25": (None, "fee too high"),
    }
    for query, (shown, hidden) in checks.items():
        _response, html = page(client, programme, "comments", query)
        rows = html[html.index('id="comments"') :]
        if shown:
            assert shown in rows, query
        assert hidden not in rows, query


def test_comments_come_in_keyset_pages(client, login_as):
    login_as("lead")
    programme = make_programme()
    for number in range(55):
        add_answers(
            programme,
            {9: 1},
            comment=f"comment number {number:02d}",
            at=utc_now() - timedelta(minutes=number),
        )
    _response, html = page(client, programme, "comments")
    assert "comment number 00" in html and "comment number 49" in html
    assert "comment number 50" not in html
    link = re.search(r'id="next-comments" rel="next" href="([^"]+)"', html).group(1)
    second = client.get(link.replace("&amp;", "&")).get_data(as_text=True)
    assert "comment number 50" in second and "comment number 54" in second
    assert "comment number 49" not in second and 'id="next-comments"' not in second


@pytest.mark.parametrize("query", ["?group=angry", "?language=fr", "?handler=abc"])
def test_bad_comment_filters_are_refused(client, login_as, query):
    login_as("lead")
    programme = make_programme()
    response, html = page(client, programme, "comments", query)
    assert response.status_code == 400 and 'id="period-error"' in html


def test_a_garbled_page_key_starts_from_the_first_page(client, login_as):
    login_as("lead")
    programme = make_programme()
    add_answers(programme, {9: 1}, comment="still here")
    response, html = page(client, programme, "comments", "?after=zzz.1")
    assert response.status_code == 200 and "still here" in html


def test_the_csv_export_neutralises_formulas_and_nothing_else(client, login_as):
    login_as("lead")
    programme = make_programme()
    add_answers(
        programme, {0: 1}, comment='=HYPERLINK("http://evil.example","click")', product="Card"
    )
    add_answers(programme, {10: 1}, comment="<b>Great</b>, fast & kind — 谢谢", product="@Loan")
    add_answers(programme, {7: 1}, comment="")
    response = client.get(f"/surveys/programmes/{programme.id}/answers.csv?group=low")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    assert [row["comment"] for row in rows] == ['\'=HYPERLINK("http://evil.example","click")']
    assert rows[0]["score"] == "0" and rows[0]["group"] == "low" and rows[0]["product"] == "Card"
    everything = client.get(f"/surveys/programmes/{programme.id}/answers.csv")
    rows = list(csv.DictReader(io.StringIO(everything.get_data(as_text=True).lstrip("\ufeff"))))
    assert len(rows) == 3
    kind = next(row for row in rows if row["score"] == "10")
    assert kind["comment"] == "<b>Great</b>, fast & kind — 谢谢"
    assert kind["product"] == "'@Loan"
