"""Translated labels for the messaging room's codes, shared by pages and the 360 timeline."""

from flask_babel import lazy_gettext as _l
from flask_babel import lazy_pgettext

MESSAGE_STATUS_LABELS = {
    "queued": lazy_pgettext("message status", "Queued"),
    "deferred": lazy_pgettext("message status", "Deferred"),
    "sending": lazy_pgettext("message status", "Sending"),
    "sent": lazy_pgettext("message status", "Sent"),
    "failed": lazy_pgettext("message status", "Failed"),
    "suppressed": lazy_pgettext("message status", "Held back"),
}
PURPOSE_LABELS = {
    "care": _l("Care greetings"),
    "survey": _l("Surveys"),
    "service": _l("Service messages"),
}
# What a customer stops when they unsubscribe, in the words of the confirm page.
UNSUBSCRIBE_LABELS = {
    "care": _l("greeting and care"),
    "survey": _l("survey"),
    "service": _l("service"),
}
