"""A module named `lib` too: it must not be confused with local_module's `lib` package."""

PREFIX = "package-main"
