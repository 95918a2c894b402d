"""Demo data for trying the portal and sizing the benchmarks; every room adds a seeder here."""
