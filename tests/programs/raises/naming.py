def bucket_name(env: str) -> str:
    if env not in ("staging", "production"):
        raise ValueError(f"unsupported environment {env!r}: use staging or production")
    return f"acme-{env}"
