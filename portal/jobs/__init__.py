"""The one job registry and the scheduler runner; each domain keeps its job functions in jobs.py."""
