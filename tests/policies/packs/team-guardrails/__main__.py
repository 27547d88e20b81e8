"""CrossGuard entry point: `pulumi preview --policy-pack path/to/team-guardrails`."""

from pathlib import Path

from pulumi_policy import PolicyPack

from policies.user_packs import pack_kwargs_for_dir

PolicyPack(**pack_kwargs_for_dir(Path(__file__).parent))
