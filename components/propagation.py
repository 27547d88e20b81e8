"""A wait between access grants and the first resource a cloud checks them on.

Azure RBAC and Google Cloud IAM are eventually consistent: a role assignment or IAM member reports success
before every service enforces it, and services that validate key access when they create a resource (a storage
account or registry with a customer-managed key, a Memorystore instance with CMEK) fail the create if the grant
is not visible yet. Ordering alone (`depends_on` on the grant, which `deploy-key-grant-before-use` checks) does
not cover that gap; a `time` provider Sleep after the grants does. It runs on create only (and again when a
grant is replaced, through its triggers), so updates do not pay it.
"""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
import pulumiverse_time as time


def propagation_wait(name: str, grants: Sequence[pulumi.CustomResource], *, seconds: int,
                     parent: pulumi.Resource) -> list[pulumi.Resource]:
    """A Sleep of `seconds` after `grants`, as the `depends_on` list for what must wait for them (empty when
    there are no grants). The caller's comment cites the documented delay `seconds` comes from."""
    if not grants:
        return []
    # The grants' ids as triggers: a replaced grant (a new id) is waited for again.
    ids = pulumi.Output.all(*[g.id for g in grants]).apply(lambda xs: ",".join(sorted(str(x) for x in xs)))
    sleep = time.Sleep(name, time.SleepArgs(create_duration=f"{seconds}s", triggers={"grants": ids}),
                       pulumi.ResourceOptions(parent=parent, depends_on=list(grants)))
    return [sleep]
