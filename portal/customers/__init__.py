"""Customers, their credit accounts, consent and flags, contacts, follow-ups, the 360 timeline."""
