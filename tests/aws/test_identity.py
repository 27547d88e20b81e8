"""Identity: node roles with managed policies only; one IRSA role per workload, trusted by one service account,
allowed exactly its resources."""

from __future__ import annotations

import pytest

from aienv.workloads import Workload, workloads
from components.aws._common import UNSCOPED_ACTIONS

from .awsplan import AwsPlan, as_list, statements

ISSUER = "oidc.eks.us-east-1.amazonaws.com/id/"


def _roles(plan: AwsPlan) -> dict[str, object]:
    return {r.inputs["tags"]["aienv-workload"]: r for r in plan.of("Role") if "aienv-workload" in r.inputs["tags"]}


def _policy(plan: AwsPlan, key: str) -> list[dict]:
    return statements(next(p for p in plan.of("RolePolicy") if p.name.endswith(f"-identity-{key}-access")))


def test_node_role_has_only_the_node_managed_policies(prod: AwsPlan) -> None:
    node_role = prod.one("Role", "node-identity-node")
    attached = sorted(a.inputs["policyArn"].rsplit("/", 1)[1] for a in prod.of("RolePolicyAttachment")
                      if "node-identity-node" in a.name)
    # C2: no AmazonEKS_CNI_Policy on every node: the VPC CNI has its own IRSA role (test_cluster).
    assert attached == ["AmazonEC2ContainerRegistryPullOnly", "AmazonEKSWorkerNodePolicy"]
    inline = [p.name for p in prod.of("RolePolicy") if p.inputs["role"] == node_role.id]
    assert inline == ["prod-aws-node-identity-node-pull-through-cache"]  # test_bring_up


def test_one_role_per_workload_bound_to_exactly_its_service_account(prod: AwsPlan) -> None:
    roles = _roles(prod)
    expected = workloads(prod.spec)
    assert set(roles) == {w.key for w in expected}
    for w in expected:
        (st,) = statements(roles[w.key], "assumeRolePolicy")
        assert st["Action"] == "sts:AssumeRoleWithWebIdentity"
        assert st["Principal"]["Federated"].startswith("arn:aws:iam::123456789012:oidc-provider/" + ISSUER)
        cond = st["Condition"]["StringEquals"]
        sub = next(k for k in cond if k.endswith(":sub"))
        assert sub.startswith(ISSUER)
        assert cond[sub] == f"system:serviceaccount:{w.namespace}:{w.service_account}"
        assert cond[sub.replace(":sub", ":aud")] == "sts.amazonaws.com"


def test_graph_grows_with_endpoints(variant) -> None:
    endpoints = [{"name": f"ep{i}", "model": {"name": "m", "source": {"uploaded": True}}, "gpu": {"type": "nvidia-l4"}} for i in range(4)]
    plan = variant("dev-aws", {"model_endpoints": endpoints})
    serving = [k for k in _roles(plan) if k.startswith("serving-")]
    assert sorted(serving) == [f"serving-ep{i}" for i in range(4)]
    assert len([k for k in _roles(plan) if k.startswith("drift-")]) == 4


def test_serving_reads_only_its_model_prefix_and_decrypts_through_s3(prod: AwsPlan) -> None:
    models = next(b for b in prod.of("Bucket") if b.inputs["tags"]["aienv-bucket-purpose"] == "model_artifacts")
    bucket_arn = models.outputs["arn"]
    sts = {s["Sid"]: s for s in _policy(prod, "serving-chat")}
    assert sts["ReadModelArtifacts"]["Resource"] == [f"{bucket_arn}/models/chat/3/*"]
    # `chat` rolls out progressively: its stable pods may read the previous version until promotion.
    rollout = next(p for p in prod.of("RolePolicy") if p.name.endswith("-rollout-chat"))
    versions = {s["Sid"]: s for s in statements(rollout)}
    assert versions["ReadModelVersions"]["Resource"] == [f"{bucket_arn}/models/chat/*"]
    assert versions["ListModelVersions"]["Condition"]["StringLike"]["s3:prefix"] == ["models/chat/*"]
    assert set(versions) == {"ReadModelVersions", "ListModelVersions", "DecryptThroughS3"}
    assert sts["ListModelPrefix"]["Resource"] == bucket_arn
    assert sts["DecryptThroughS3"]["Resource"].startswith("arn:aws:kms:")
    assert sts["DecryptThroughS3"]["Condition"]["StringEquals"]["kms:ViaService"] == "s3.us-east-1.amazonaws.com"
    summarize = {s["Sid"]: s for s in _policy(prod, "serving-summarize")}
    assert summarize["ReadModelArtifacts"]["Resource"] == [f"{bucket_arn}/models/summarize/1/*"]


def test_feature_server_has_no_grant_it_does_not_use(prod: AwsPlan) -> None:
    # C5/B1: Feast reads Redis with a password and its registry under `feast/`; no feature-record writes, no
    # Redis describe, no read of the whole offline bucket.
    actions = {a for s in _policy(prod, "feature-server") for a in as_list(s["Action"])}
    assert not [a for a in actions if a.startswith(("sagemaker:", "elasticache:"))]
    resources = [r for s in _policy(prod, "feature-server") for r in as_list(s["Resource"])]
    assert not [r for r in resources if isinstance(r, str) and r.endswith(":::*") or str(r).endswith("/*")
                and not str(r).endswith("/feast/*")]


def test_drift_monitor_reads_only_its_endpoints_samples(prod: AwsPlan) -> None:
    sts = {s["Sid"]: s for s in _policy(prod, "drift-chat")}
    bucket = next(b.outputs["arn"] for b in prod.of("Bucket") if "training" in b.name)
    assert sts["ReadDriftSamples"]["Resource"] == f"{bucket}/drift/chat/*"
    assert sts["ListDriftSamples"]["Condition"]["StringLike"]["s3:prefix"] == ["drift/chat/*"]
    assert not any("cloudwatch:PutMetricData" in as_list(s["Action"]) for s in sts.values())


def test_autoscaler_scales_only_groups_tagged_for_this_cluster(prod: AwsPlan) -> None:
    sts = {s["Sid"]: s for s in _policy(prod, "cluster-autoscaler")}
    scale = sts["ScaleOwnNodeGroups"]
    assert scale["Condition"]["StringEquals"]["aws:ResourceTag/k8s.io/cluster-autoscaler/prod-aws"] == "owned"
    assert sts["DescribeOwnNodeGroups"]["Resource"] == "arn:aws:eks:us-east-1:123456789012:nodegroup/prod-aws/*/*"


def test_scoped_policies_use_wildcards_only_where_iam_has_no_scope(prod: AwsPlan) -> None:
    for policy in prod.of("RolePolicy"):
        for st in statements(policy):
            actions = as_list(st["Action"])
            assert not any(a == "*" or a.endswith(":*") for a in actions), policy.name
            if "*" in as_list(st["Resource"]):
                assert set(actions) <= UNSCOPED_ACTIONS, (policy.name, actions)


def test_broad_permissions_widen_to_service_wide_read(variant) -> None:
    plan = variant("dev-aws", {"security": {"workload_permissions": "broad"}})
    sts = {s["Sid"]: s for s in _policy(plan, "serving-chat")}
    assert sts["BroadS3Read"]["Resource"] == "*"
    fs = {s["Sid"]: s for s in _policy(plan, "feature-server")}
    assert fs["BroadS3Read"]["Resource"] == "*" and "BroadFeatureStore" not in fs


def test_binder_returns_the_role_annotation_and_refuses_strangers(tmp_path) -> None:
    from .awsplan import load_variant, plan_spec

    captured = {}
    spec = load_variant(tmp_path, "dev-aws", {})

    def export(foundation) -> None:
        binder = foundation.outputs.binder
        chat = next(w for w in workloads(spec) if w.key == "serving-chat")
        captured["annotations"] = binder.bind(chat).service_account_annotations
        import pulumi
        pulumi.export("chatRole", captured["annotations"]["eks.amazonaws.com/role-arn"])
        with pytest.raises(KeyError):
            binder.bind(Workload("serving-ghost", "serving", "aienv-serving", "ghost-serving", "ghost"))
        with pytest.raises(KeyError):  # right key, wrong service account
            binder.bind(Workload("serving-chat", "serving", "default", "chat-serving", "chat"))

    plan = plan_spec(spec, export)
    role = _roles(plan)["serving-chat"]
    assert plan.outputs["chatRole"] == role.outputs["arn"]


def test_canary_grant_follows_a_custom_artifact_path(variant) -> None:
    # B7: the canary's folder comes from the same function the serving pods use.
    from aienv import conventions as c

    endpoints = [{"name": "chat", "model": {"name": "m", "version": "3", "artifact_path": "models/chat/3/weights/",
                                            "source": {"huggingface": "org/m"}},
                  "canary": {"version": "4", "weight": 10}, "gpu": {"type": "nvidia-l4"},
                  "scale_to_zero": {"enabled": False}, "resources": {"cpu": "3", "memory": "12Gi"}}]
    plan = variant("dev-aws", {"model_endpoints": endpoints})
    models = next(b.outputs["arn"] for b in plan.of("Bucket") if b.inputs["tags"]["aienv-bucket-purpose"] == "model_artifacts")
    sts = {s["Sid"]: s for s in _policy(plan, "serving-chat")}
    assert sorted(sts["ReadModelArtifacts"]["Resource"]) == [f"{models}/models/chat/3/weights/*",
                                                             f"{models}/models/chat/4/weights/*"]
    assert c.canary_artifact_path("weights/llama/3/", "chat", "3", "4") == "weights/llama/4/"
    assert c.canary_artifact_path("3/weights/", "chat", "3", "4") == "4/weights/"  # a leading version segment too
    imports = {s["Sid"]: s for s in _policy(plan, "import-chat")}
    assert sorted(imports["WriteModelVersions"]["Resource"]) == sorted(sts["ReadModelArtifacts"]["Resource"])


def test_each_workload_waits_for_its_own_role_policy() -> None:
    # A8: pods start after their role's policy exists (else AccessDenied until IAM catches up): each workload's
    # service account waits for its own policy, and only for it (a wait on every policy made each workload depend
    # on all others, and the plan quadratic in the endpoints).
    from tests.plans import loaded, planned

    spec = loaded("prod-aws.yaml").spec
    plan = planned("prod-aws.yaml")
    policy = {r.name.removeprefix("prod-aws-identity-").removesuffix("-access"): r.urn for r in plan.resources
              if r.type == "aws:iam/rolePolicy:RolePolicy" and r.name.startswith("prod-aws-identity-")
              and r.name.endswith("-access")}
    accounts = {(r.inputs["metadata"]["namespace"], r.inputs["metadata"]["name"]): r for r in plan.resources
                if r.type == "kubernetes:core/v1:ServiceAccount"}
    checked = 0
    for wl in workloads(spec):
        account = accounts.get((wl.namespace, wl.service_account))
        if account is None or wl.key not in policy:
            continue
        deps = set(account.dependencies)
        assert policy[wl.key] in deps, wl.key
        assert not (set(policy.values()) - {policy[wl.key]}) & deps, f"{wl.key} waits for other workloads' policies"
        checked += 1
    assert checked >= 8


def test_long_environment_and_workload_names_fit_the_iam_prefix(variant) -> None:
    # A4: every role name_prefix, with the 26 characters the provider appends, stays within 64.
    from aienv.naming import AWS_IAM_ROLE_PREFIX

    name = "a" * 29 + "-bbbbbbbb-c"  # 40 characters
    endpoints = [{"name": "e" * 40, "model": {"name": "m", "source": {"huggingface": "org/m"}},
                  "gpu": {"type": "nvidia-l4"}, "resources": {"cpu": "3", "memory": "12Gi"}},
                 # retraining adds the SageMaker pipeline's role (components/aws/mlops.py)
                 {"name": "r" * 40, "model": {"name": "m", "source": {"huggingface": "org/m"}},
                  "gpu": {"type": "nvidia-l4"}, "resources": {"cpu": "3", "memory": "12Gi"},
                  "retraining": {"pipeline": "retrain", "triggers": ["quality"], "quality_threshold": 0.8}}]
    plan = variant("dev-aws", {"name": name, "model_endpoints": endpoints})
    assert plan.one("aws:iam/role:Role", "-pipeline")  # the pipeline role is among the roles checked
    prefixes = [r.inputs["namePrefix"] for r in plan.of("aws:iam/role:Role")]
    assert len(prefixes) == len(plan.of("aws:iam/role:Role"))  # every role is prefixed, none auto-named
    assert all(len(p) <= AWS_IAM_ROLE_PREFIX for p in prefixes), [p for p in prefixes if len(p) > 38]
    assert len(set(prefixes)) == len(prefixes)  # still distinct after shortening
    groups = [g.inputs["nodeGroupNamePrefix"] for g in plan.of("NodeGroup")]
    assert all(len(p) + 26 <= 63 for p in groups)
    assert all(len(b.inputs["bucketPrefix"]) <= 37 for b in plan.of("Bucket"))
    pkg = [g.inputs["modelPackageGroupName"] for g in plan.of("ModelPackageGroup")]
    assert pkg and all(len(n) <= 63 for n in pkg)
    cache = [r.inputs["ecrRepositoryPrefix"] for r in plan.of("PullThroughCacheRule")]
    assert cache and all(2 <= len(p) <= 30 for p in cache)


def test_rollout_versions_root_follows_the_artifact_path() -> None:
    from aienv import conventions as c

    assert c.model_versions_prefixes("models/chat/3/", "chat", "3") == ["models/chat/"]
    assert c.model_versions_prefixes("weights/llama/3/safetensors/", "chat", "3") == ["weights/llama/"]
    # No version segment: the default folder (where a new version lands) and the path itself.
    assert c.model_versions_prefixes("weights/llama/", "chat", "3") == ["models/chat/", "weights/llama/"]
