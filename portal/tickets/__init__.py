"""Complaint and feedback tickets under regulatory clocks (being built: the clocks come first)."""
