"""Survey links: a token is 256 bits, never stored, found by its hash; the email's link is made
when the message is rendered, so the outbox holds no working link."""

from sqlalchemy import select

from portal.messaging.compose import content_of
from portal.messaging.models import Message
from portal.surveys.models import SurveyInvitation, score_group
from portal.surveys.scores import score
from portal.surveys.tokens import survey_values, token_for, token_hash, well_formed
from tests.factories import make_customer, make_invitation, make_message, make_programme


def test_an_invitation_keeps_the_hash_of_its_token_and_not_the_token(db):
    programme = make_programme()
    invitation, token = make_invitation(programme, make_customer())
    assert well_formed(token) and len(token) == 43  # 256 bits in URL-safe base64
    found = db.session.scalar(
        select(SurveyInvitation).where(SurveyInvitation.token_hash == token_hash(token))
    )
    assert found is invitation
    stored = [str(value) for value in db.session.execute(select(SurveyInvitation)).one()]
    assert not any(token in value for value in stored)
    assert token_for(invitation.nonce) == token


def test_the_link_is_made_when_the_email_is_rendered_and_is_not_in_the_outbox(app, db):
    programme = make_programme()
    invitation, token = make_invitation(programme, make_customer())
    message = make_message(
        template_key="notice",
        context={"survey_nonce": invitation.nonce, "survey_scale": [0, 10], "message": "x"},
    )
    assert token not in str(db.session.get(Message, message.id).context)
    values = survey_values(message.context)
    assert values["survey_url"] == f"{app.config['PUBLIC_BASE_URL']}/s/{token}"
    assert [score for score, _ in values["score_urls"]] == list(range(11))
    assert values["score_urls"][3][1].endswith(f"/s/{token}?score=3")
    assert content_of(message).subject  # other values still render
    assert survey_values({"message": "x"}) == {}


def test_score_groups_follow_each_scale():
    assert [score_group("nps", s) for s in (0, 6, 7, 8, 9, 10)] == [-1, -1, 0, 0, 1, 1]
    assert [score_group("csat", s) for s in (1, 2, 3, 4, 5)] == [-1, -1, 0, 1, 1]
    assert [score_group("ces", s) for s in (1, 2, 3, 4, 5, 6, 7)] == [-1, -1, 0, 0, 1, 1, 1]


def test_the_nps_check_figure_and_its_margin():
    nps = score("nps", high=690, middle=392, low=1271)
    assert round(nps.value, 1) == -24.7
    assert round(nps.margin, 2) == 3.55
    assert not nps.small_sample
    assert score("csat", 0, 0, 0).value is None
    assert score("csat", 20, 5, 4).small_sample
