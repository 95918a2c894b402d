"""The lowest room: extensions, configuration, model base, time helpers, access rules, errors."""
