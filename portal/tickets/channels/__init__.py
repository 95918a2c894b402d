"""The customer channels of the tickets room: how complaints come in and what the complainant
is told.

In: the public web form (`public_views` → `webform`, or what its bot traps catch →
`suspected_spam`, reviewed in `suspected_spam_views`), email piped in or fetched over IMAP
(`mailbox`, `mailparse` → `inbound`), and staff registering what a customer told them
(`intake.register`); `intake` matches whoever wrote in to a customer or a prospect and caps
how often they may. Out: notices and replies to the complainant, by email or recorded as given
another way (`notices`), with reply templates (`replies`), on the ticket page's correspondence
(`correspondence_views`).

Modules ending in `_views` hold blueprints; the others are use cases, their reads and forms.
Staff notifications (the bell) are not a channel to customers: they live in
`tickets.notifications`.
"""
