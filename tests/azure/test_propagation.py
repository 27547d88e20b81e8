"""Bx1: what Azure checks a role assignment on at create time waits out RBAC propagation after it.

Microsoft, *Troubleshoot Azure RBAC*: "When you assign roles or remove role assignments, it can take up to 10
minutes for changes to take effect." Ordering alone does not cover that gap; one `time` Sleep per group of
grants does (components/propagation.py).
"""

from __future__ import annotations

from aienv.check import from_export, run_packs
from aienv.engine import Plan
from tests.azure.test_fidelity import of, one, role
from tests.plans import ancestors, planned

SLEEP = "time:index/sleep:Sleep"
CRYPTO_SERVICE_USER = "e147488a-f6f5-4113-8e2d-b22465e65bf6"
CRYPTO_OFFICER = "14b46e9e-c2b7-41b4-b07b-48a6ebf60603"


def sleeps(plan: Plan) -> dict[str, object]:
    return {r.urn: r for r in plan.resources if r.type == SLEEP}


def wait_of(plan: Plan, resource) -> object:
    """The one Sleep `resource` depends on directly."""
    found = [sleeps(plan)[u] for u in resource.dependencies if u in sleeps(plan)]
    assert len(found) == 1, (resource.name, resource.dependencies)
    return found[0]


def test_one_ten_minute_wait_per_group_of_grants(prod):
    plan, _ = prod
    waits = sorted(s.name for s in sleeps(plan).values())
    assert waits == ["prod-azure-cluster-deployer-access-wait", "prod-azure-cluster-grants-wait",
                     "prod-azure-keys-cmk-grants-wait", "prod-azure-keys-deployer-grants-wait"]
    assert {s.inputs["createDuration"] for s in sleeps(plan).values()} == {"600s"}


def test_customer_managed_key_users_wait_after_every_key_grant(prod):
    plan, _ = prod
    keys = {k.id for k in of(plan, "keyvault:Key")}
    # The grants to the key users' identities (and Cosmos DB's); the DES and the ACR system identity get theirs
    # after their own resource exists.
    key_grants = {g.urn for g in role(plan, CRYPTO_SERVICE_USER) if g.inputs["scope"] in keys
                  and g.name.startswith("prod-azure-keys-")}
    assert len(key_grants) == 5  # storage, ml, redis, registry (its own vault), Cosmos DB
    users = [*of(plan, "storage:StorageAccount"), *of(plan, "containerregistry:Registry"),
             *of(plan, "machinelearningservices:Workspace"), *of(plan, "redisenterprise:RedisEnterprise")]
    # the `data` and `lake` accounts, the ACR, the ML workspace, the feature store and the online store
    assert len(users) == 6
    the_wait = None
    for user in users:
        wait = wait_of(plan, user)
        the_wait = the_wait or wait
        assert wait.urn == the_wait.urn, user.name  # one wait for the group
        assert key_grants <= set(wait.dependencies), (user.name, key_grants - set(wait.dependencies))
        assert not set(wait.dependencies) & {u.urn for u in users}


def test_keys_wait_after_the_deployer_grants_on_both_vaults(prod):
    plan, _ = prod
    officers = {g.urn for g in role(plan, CRYPTO_OFFICER)}
    assert len(officers) == 2
    for key in of(plan, "keyvault:Key"):
        assert officers <= set(wait_of(plan, key).dependencies), key.name


def test_cluster_waits_after_its_grants_and_the_kubernetes_layer_after_the_deployer_role(prod):
    plan, holder = prod
    cluster = one(plan, "containerservice:ManagedCluster")
    wait = wait_of(plan, cluster)
    grants = {g.urn for g in of(plan, "authorization:RoleAssignment") if g.name.startswith("prod-azure-cluster-")
              and not g.name.endswith("deployer-cluster-admin") and cluster.urn not in ancestors(plan, g.urn)}
    des_grant = one(plan, "authorization:RoleAssignment", "cluster-des-grant").urn
    assert des_grant in grants and len(grants) >= 6
    assert grants <= set(wait.dependencies)
    admin = one(plan, "authorization:RoleAssignment", "deployer-cluster-admin")
    access = holder["foundation"].cluster.deployer_access
    assert [type(r).__name__ for r in access] == ["RoleAssignment", "Sleep"]
    provider = [r for r in plan.resources if r.type == "pulumi:providers:kubernetes"]
    assert provider and all(admin.urn in ancestors(plan, p.urn) for p in provider)
    (access_wait,) = [s for s in sleeps(plan).values() if s.name.endswith("deployer-access-wait")]
    assert admin.urn in access_wait.dependencies
    assert all(access_wait.urn in p.dependencies for p in provider)


def test_the_key_grant_order_policy_still_passes():
    result = run_packs(from_export(planned("Pulumi.prod-azure.yaml").to_document(), None), ["aienv-deploy"])
    outcome = [o for o in result.outcomes if o.policy == "deploy-key-grant-before-use"]
    assert len(outcome) == 1 and outcome[0].passed, outcome
