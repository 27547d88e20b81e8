"""Helpers local to the program (imported as `from lib import helpers`)."""

PREFIX = "local-module"


def bucket_tags(env: str) -> dict[str, str]:
    return {"env": env, "managed-by": PREFIX}
