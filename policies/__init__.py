"""aienv policy rules and CrossGuard packs.

`policies.rules.*` hold the rules (plain data + check functions, importable with no side effects);
`policies.packs` selects and configures them per pack and builds `pulumi_policy` Policy objects.
The folders `policies/<pack>/` are the CrossGuard packs the Pulumi CLI loads; each `__main__.py`
only builds a `PolicyPack` from `policies.packs`.
"""
