"""Pulumi ComponentResources that turn a resolved `StackSpec` into an AI environment.

Components never read files or config: they take typed args (the spec's sub-models and
`components.contracts` values). `components.environment.build_environment` is the one entry point that
`__main__.py` (real `pulumi up`) and `aienv plan` (offline engine) both call.
"""
