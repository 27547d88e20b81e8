"""The feature server verifies the online store's TLS certificate: Memorystore's private CA is mounted and
named in the connection string; stores with publicly trusted certificates need nothing extra."""

from __future__ import annotations

import yaml

from tests.plans import planned


def _feature_server(stack_file: str) -> tuple[dict, dict[str, dict]]:
    plan = planned(stack_file)
    configs = {r.inputs["metadata"]["name"]: r.inputs for r in plan.resources
               if r.type == "kubernetes:core/v1:ConfigMap" and r.inputs["metadata"]["name"].startswith("feature-server")}
    deployment = next(r.inputs for r in plan.resources
                      if r.type == "kubernetes:apps/v1:Deployment" and r.inputs["metadata"]["name"] == "feature-server")
    return deployment, configs


def test_memorystore_ca_is_trusted() -> None:
    deployment, configs = _feature_server("Pulumi.prod-gcp.yaml")
    store = yaml.safe_load(configs["feature-server-config"]["data"]["feature_store.yaml"])
    connection = store["online_store"]["connection_string"]
    assert ",ssl=true,ssl_ca_certs=/etc/aienv/redis-ca/ca.crt," in connection
    assert configs["feature-server-redis-ca"]["data"]["ca.crt"].startswith("-----BEGIN CERTIFICATE-----")
    pod = deployment["spec"]["template"]["spec"]
    assert {"name": "redis-ca", "mountPath": "/etc/aienv/redis-ca", "readOnly": True} in pod["containers"][0]["volumeMounts"]
    assert any(v["name"] == "redis-ca" and v["configMap"]["name"] == "feature-server-redis-ca" for v in pod["volumes"])


def test_public_ca_stores_need_no_extra_ca() -> None:
    deployment, configs = _feature_server("Pulumi.prod-aws.yaml")
    store = yaml.safe_load(configs["feature-server-config"]["data"]["feature_store.yaml"])
    assert "ssl_ca_certs" not in store["online_store"]["connection_string"]
    assert "feature-server-redis-ca" not in configs
