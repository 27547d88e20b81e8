"""How `pulumi up` reaches the private GKE control plane it configures (field report A7, bring-up 1): the
IAM-authorised DNS endpoint by default, the private endpoint from the deployer's network on request, and the
two-phase first deploy that builds the foundation alone."""

from __future__ import annotations

import yaml

from aienv.spec.model import DeployerSpec, EndpointAccess
from tests.gcp.gcpplan import inputs, plan_gcp, prod_spec, variant

GKE = "gcp:container/cluster:Cluster"
PEERING_ROUTES = "gcp:compute/networkPeeringRoutesConfig:NetworkPeeringRoutesConfig"


def server(plan) -> dict:
    config = yaml.safe_load(inputs(plan.one("pulumi:providers:kubernetes"))["kubeconfig"])
    return config["clusters"][0]["cluster"]


def private_network():
    return variant(lambda s: setattr(s.cluster, "deployer", DeployerSpec(path="private_network",
                                                                         cidrs=["10.200.0.0/24"])))


def test_prod_reaches_the_private_cluster_through_the_iam_authorised_dns_endpoint(prod):
    assert prod_spec().cluster.deployer.path == "dns_endpoint"
    gke = inputs(prod.one(GKE))
    assert gke["controlPlaneEndpointsConfig"]["dnsEndpointConfig"]["allowExternalTraffic"] is True
    # The IP endpoint stays private: no public endpoint, only the nodes are authorised on it.
    assert gke["privateClusterConfig"]["enablePrivateEndpoint"] is True
    assert [b["cidrBlock"] for b in gke["masterAuthorizedNetworksConfig"]["cidrBlocks"]] == ["10.43.0.0/18"]
    # The kubeconfig points at the DNS endpoint (publicly trusted certificate, so no cluster CA pinned).
    cluster = server(prod)
    assert cluster["server"].startswith("https://gke-") and cluster["server"].endswith(".europe-west4.gke.goog")
    assert "certificate-authority-data" not in cluster
    assert not prod.of_type(PEERING_ROUTES)


def test_private_network_admits_the_deployer_cidrs_on_the_private_endpoint():
    plan = plan_gcp(private_network(), "deployer-private-network")
    gke = inputs(plan.one(GKE))
    assert [b["cidrBlock"] for b in gke["masterAuthorizedNetworksConfig"]["cidrBlocks"]] == [
        "10.43.0.0/18", "10.200.0.0/24"]
    assert gke["controlPlaneEndpointsConfig"]["dnsEndpointConfig"]["allowExternalTraffic"] is False
    assert gke["privateClusterConfig"]["masterGlobalAccessConfig"] == {"enabled": True}
    # Routes to a VPN/Interconnect-connected deployer are exported to the control plane's peering.
    routes = inputs(plan.one(PEERING_ROUTES))
    assert routes["exportCustomRoutes"] is True and routes["importCustomRoutes"] is False
    assert routes["peering"].endswith("-peer")
    cluster = server(plan)
    assert cluster["server"] == "https://172.16.0.34" and cluster["certificate-authority-data"]


def test_public_api_uses_the_public_endpoint_and_no_dns_access():
    def edit(s):
        s.cluster.api_access = EndpointAccess.public
        s.cluster.api_allowed_cidrs = ["203.0.113.0/24"]
        s.cluster.deployer = DeployerSpec()
    plan = plan_gcp(variant(edit), "deployer-public")
    gke = inputs(plan.one(GKE))
    assert gke["controlPlaneEndpointsConfig"]["dnsEndpointConfig"]["allowExternalTraffic"] is False
    assert server(plan)["server"] == f"https://{plan.one(GKE).outputs['endpoint']}"


def test_first_phase_builds_the_foundation_without_kubernetes():
    from components.environment import build_environment
    plan = plan_gcp(private_network(), "deployer-phase-one",
                    build=lambda s: build_environment(s, kubernetes=False))
    assert not [r for r in plan.resources if r.type.startswith("aienv:kubernetes:")]
    assert plan.of_type(GKE) and plan.of_type(PEERING_ROUTES)


def test_first_phase_foundation_creates_no_kubernetes_object():
    # Phase one runs before the deployer's network reaches the private endpoint: nothing may call the API
    # server. (components/environment.py must pass `kubernetes=False` on to the foundation's args.)
    from components.gcp.foundation import GcpFoundation, GcpFoundationArgs
    plan = plan_gcp(private_network(), "deployer-phase-one-foundation",
                    build=lambda s: GcpFoundation(s.name, GcpFoundationArgs(spec=s, kubernetes=False)))
    assert not [r for r in plan.resources if r.type.startswith("kubernetes:")]
    assert plan.foundation.outputs.cluster_ready and plan.of_type(GKE)
