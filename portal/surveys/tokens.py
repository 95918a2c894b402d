"""Answer-page tokens: 256-bit, never stored, looked up by their hash.

An invitation keeps a random 128-bit nonce; its token is HMAC-SHA256(SECRET_KEY, nonce) in
URL-safe base64 (43 characters), and the row keeps only the token's SHA-256. The outbox keeps the
nonce, not the token, and renders the link when it sends (`survey_values`): a copy of the
database or of the outbox opens no answer page without the app's secret. Rotating SECRET_KEY
breaks the links already sent.
"""

import base64
import hashlib
import hmac
import re
import secrets
from collections.abc import Mapping
from typing import Any

from flask import current_app

TOKEN_PATTERN = re.compile(r"[A-Za-z0-9_-]{43}")


def new_nonce() -> str:
    return secrets.token_hex(16)


def token_for(nonce: str) -> str:
    key = str(current_app.config["SECRET_KEY"]).encode()
    digest = hmac.new(key, b"survey-invitation:" + nonce.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def well_formed(token: str) -> bool:
    """Whether `token` could be one: anything else is refused before the database is asked."""
    return bool(TOKEN_PATTERN.fullmatch(token))


def answer_url(nonce: str, score: int | None = None) -> str:
    """The answer page's address, absolute; with `score`, the page opens with it chosen."""
    url = f"{current_app.config['PUBLIC_BASE_URL']}/s/{token_for(nonce)}"
    return url if score is None else f"{url}?score={score}"


def survey_values(context: Mapping[str, Any]) -> dict[str, Any]:
    """Values for an invitation email, made when it is rendered: the answer link and one link
    per score (`score_urls`, lowest first). Other messages get nothing."""
    nonce = context.get("survey_nonce")
    if not isinstance(nonce, str):
        return {}
    low, high = context.get("survey_scale") or (0, 10)
    return {
        "survey_url": answer_url(nonce),
        "score_urls": [(score, answer_url(nonce, score)) for score in range(low, high + 1)],
    }
