"""Offline policy gate: run the CrossGuard packs' policies on a plan export, a `pulumi stack export` or a
`pulumi preview --json` document, without the Pulumi CLI (the `PolicyPack` server is never started).
"""

from __future__ import annotations

from aienv.check.config import PolicyConfigError, load_policy_config
from aienv.check.plan import PlanDocument, PlanFileError, from_export, read_plan_file
from aienv.check.runner import CheckResult, PolicyOutcome, Violation, run_packs

__all__ = [
    "CheckResult", "PlanDocument", "PlanFileError", "PolicyConfigError", "PolicyOutcome", "Violation",
    "from_export", "load_policy_config", "read_plan_file", "run_packs",
]
