"""Helpers shared by this pack's rule modules (a leading underscore: not a rule module)."""

SMALL_DB_CLASSES = ("db.t4g.micro", "db.t4g.small", "db.t4g.medium")
