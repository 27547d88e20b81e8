"""The stack spec: one typed document that describes a whole AI environment.

Pydantic v2, no Pulumi imports. Every field is documented: the descriptions feed the JSON Schema
(`aienv schema`) and the spec reference in README.md. Unknown keys are errors everywhere.
Fields whose default depends on `environment` are `None` in the document and resolved by
`StackSpec.resolved()` (see `aienv.spec.defaults`).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from aienv.gpus import GPU_TYPES

DNS_LABEL = r"^[a-z]([a-z0-9-]{0,38}[a-z0-9])?$"
FEATURE_NAME = r"^[a-z][a-z0-9_]{0,62}$"

GpuTypeName = Literal["nvidia-t4", "nvidia-l4", "nvidia-a10g", "nvidia-a100-40gb", "nvidia-a100-80gb",
                      "nvidia-h100-80gb"]
assert set(GpuTypeName.__args__) == set(GPU_TYPES), "GpuTypeName must list the GPU catalogue"  # type: ignore[attr-defined]

DnsName = Annotated[str, Field(pattern=DNS_LABEL, description="DNS-safe name: lowercase letters, digits and `-`, "
                                                            "starting with a letter, at most 40 characters.")]


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, use_attribute_docstrings=False)


class Environment(StrEnum):
    dev = "dev"
    staging = "staging"
    prod = "prod"


# --- identity and cloud ----------------------------------------------------------------------------

class CloudSpec(Model):
    """Where the environment lives. Set `provider` and the fields that cloud needs."""

    provider: Literal["aws", "azure", "gcp"] = Field(description="The cloud: `aws`, `azure` or `gcp`.")
    region: str | None = Field(default=None, description="AWS or GCP region (e.g. `us-east-1`, `europe-west4`). "
                                                         "Required for `aws` and `gcp`.")
    location: str | None = Field(default=None, description="Azure location (e.g. `westeurope`). Required for `azure`.")
    subscription_id: str | None = Field(
        default=None, pattern=r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$",
        description="Azure subscription id (a GUID). Required for `azure`.")
    project: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$",
                                description="GCP project id. Required for `gcp`.")

    @property
    def place(self) -> str:
        """The region or location, whichever this cloud uses."""
        return (self.location if self.provider == "azure" else self.region) or ""


class AwsOptions(Model):
    """Options that only exist on AWS."""

    account_id: str | None = Field(default=None, pattern=r"^\d{12}$",
                                   description="Expected AWS account id; key policies and trust policies are scoped to it. "
                                               "Default: the caller's account at deploy time.")
    cluster_admin_role_arns: list[str] = Field(
        default_factory=list,
        description="IAM role ARNs given cluster-admin through EKS access entries (in addition to the deployer).")
    pod_identity: Literal["irsa"] = Field(default="irsa", description="How pods get AWS credentials: `irsa` "
                                                                      "(IAM roles for service accounts via the cluster's OIDC provider).")


class AzureOptions(Model):
    """Options that only exist on Azure."""

    tenant_id: str | None = Field(default=None, pattern=r"^[0-9a-fA-F-]{36}$",
                                  description="Entra ID tenant for AKS Azure RBAC. Default: the deployer's tenant.")
    admin_group_object_ids: list[str] = Field(default_factory=list,
                                              description="Entra ID group object ids given cluster-admin on AKS.")
    resource_lock: bool = Field(default=True, description="Put a CanNotDelete lock on the environment's resource "
                                                          "group so stateful resources cannot be deleted by accident.")
    cosmos_db_principal_id: str | None = Field(
        default=None, pattern=r"^[0-9a-fA-F-]{36}$",
        description="Object id of the *Azure Cosmos DB* service principal in the tenant (`az ad sp show --id "
                    "a232010e-820c-4083-83bb-3ace5fc29d0b --query id -o tsv`). Azure ML keeps customer-managed-key "
                    "metadata in Cosmos DB, which needs the ML key before the workspaces are created: the stack "
                    "grants this principal Key Vault Crypto Service Encryption User on exactly that key. Required "
                    "with `security.encryption: customer_managed`.")


class GcpOptions(Model):
    """Options that only exist on GCP."""

    billing_account: str | None = Field(default=None, pattern=r"^[0-9A-F]{6}-[0-9A-F]{6}-[0-9A-F]{6}$",
                                        description="Billing account id for the budget (`XXXXXX-XXXXXX-XXXXXX`). "
                                                    "Required when `budget` is set on GCP.")
    release_channel: Literal["RAPID", "REGULAR", "STABLE"] = Field(default="REGULAR",
                                                                    description="GKE release channel.")
    project_number: str | None = Field(default=None, pattern=r"^\d{6,20}$",
                                       description="GCP project number, used to name service agents. "
                                                   "Default: looked up at deploy time.")


# --- network and cluster ---------------------------------------------------------------------------

class NetworkSpec(Model):
    """The private network the environment runs in."""

    cidr: str = Field(default="10.40.0.0/16", description="The VPC/VNet address range (a /16 to /20).")
    availability_zones: int = Field(default=3, ge=2, le=3, description="How many zones subnets span.")
    zones: list[str] = Field(default_factory=list, max_length=3,
                             description="Exact zones, as the cloud names them (`us-east-1a`, `europe-west4-a`, "
                                         "Azure `1`/`2`/`3`); their count must equal `availability_zones`. "
                                         "Default: the region's first zones. Needed when a GPU pool pins zones.")
    private_endpoints: bool = Field(default=True, description=(
        "Reach the cloud services the nodes and pods call through private endpoints. AWS: VPC endpoints for S3, "
        "ECR, STS and EC2, Auto Scaling and EKS with GPU pools, Secrets Manager with token secrets, the SageMaker "
        "API with retraining; none for KMS, which no pod calls (S3, EBS, ECR and Secrets Manager use the keys "
        "server-side). Azure: private endpoints for storage, the registries, key vaults, ML workspaces and Redis. "
        "GCP: a Private Service Connect endpoint for Google APIs. Turning it off is an insecure choice the packs "
        "flag."))
    egress: Literal["nat", "none"] = Field(default="nat", description="Outbound internet for nodes: `nat` through "
                                                                      "NAT gateways, `none` for fully private clusters.")
    nat_gateways: Literal["per_zone", "single"] | None = Field(
        default=None, description="NAT egress per zone or a single one. AWS: a NAT gateway per zone, or one. GCP: "
                                  "one regional Cloud NAT either way. Azure: one NAT gateway either way (a subnet "
                                  "takes one); `per_zone` gives it a public IP per zone, but the gateway is zonal, "
                                  "so egress is not zone-redundant. "
                                  "Default: `single` in dev, `per_zone` in staging and prod.")
    flow_logs: bool = Field(default=True, description="Record network flow logs (encrypted). Turning it off is "
                                                      "an insecure choice the packs flag.")
    public_gateway_cidrs: list[str] = Field(default_factory=list, description=(
        "Source CIDRs (IPv4 or IPv6) allowed to reach the public gateway's load balancer (the `aienv-public` "
        "Envoy service's `loadBalancerSourceRanges`, which the cloud turns into firewall rules). Default: empty, "
        "any source; authentication is then the only gate. Only applies when an endpoint is `public`."))


class EndpointAccess(StrEnum):
    private = "private"
    public = "public"


class NodePool(Model):
    """The system node pool that runs platform add-ons."""

    machine_type: str | None = Field(default=None, description="Machine type. Default per cloud: `m6i.xlarge`, "
                                                                "`Standard_D4s_v5`, `e2-standard-4`.")
    min_nodes: int | None = Field(default=None, ge=1, le=100,
                                  description="Minimum nodes. Default: 1 in dev, 3 in staging and prod.")
    max_nodes: int | None = Field(default=None, ge=1, le=100,
                                  description="Maximum nodes. Default: 3 in dev, 6 in staging and prod.")
    disk_gb: int = Field(default=100, ge=30, le=2048, description="Node OS disk size in GB (encrypted with the "
                                                                   "environment's key).")


class Taint(Model):
    """An extra Kubernetes taint on a node pool."""

    key: str = Field(pattern=r"^([a-z0-9.-]+/)?[A-Za-z0-9._-]{1,63}$", description="Taint key.")
    value: str = Field(default="", max_length=63, description="Taint value.")
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] = Field(default="NoSchedule",
                                                                           description="Taint effect.")


class GpuPool(Model):
    """A GPU node pool. Nodes are tainted `nvidia.com/gpu=present:NoSchedule` and labelled with their GPU type."""

    name: DnsName = Field(description="Pool name, unique in the spec.")
    gpu_type: GpuTypeName = Field(description="Neutral GPU type from the catalogue (`aienv.gpus`).")
    gpus_per_node: int = Field(default=1, ge=1, le=8, description="GPUs per node; must be a shape the cloud sells "
                                                                  "for this GPU type.")
    min_nodes: int | None = Field(default=None, ge=0, le=1000,
                                  description="Minimum nodes. Default: 0 in dev (scale to zero), 1 in staging and prod.")
    max_nodes: int = Field(ge=1, le=1000, description="Maximum nodes the autoscaler may add.")
    spot: bool = Field(default=False, description="Use spot/preemptible capacity (cheaper, can be reclaimed).")
    disk_gb: int = Field(default=200, ge=50, le=4096, description="Node disk in GB: it holds the node's weight "
                                                                  "cache (`weight_cache: node`), which the "
                                                                  "deployability pack sizes against it.")
    labels: dict[str, str] = Field(default_factory=dict, description="Extra node labels.")
    taints: list[Taint] = Field(default_factory=list, description="Extra taints besides the GPU taint.")
    zones: list[str] = Field(default_factory=list,
                             description="Zones this pool's nodes run in, a subset of `network.zones`. Set it when "
                                         "the GPU is sold only in some zones of the region. Default: every zone "
                                         "of the environment.")


class DeployerSpec(Model):
    """How `pulumi up` (the deployer) reaches the Kubernetes API server that the same stack then configures.

    A private API server admits only clients inside the cluster's network, and the Kubernetes layer is
    deployed by the same `pulumi up`: without a path the first deploy times out on every Kubernetes object.
    """

    path: Literal["private_network", "dns_endpoint"] | None = Field(
        default=None,
        description="`private_network`: the deployer runs in a network that reaches the private endpoint "
                    "(a CI runner peered, VPN- or transit-gateway-connected to the cluster network); `cidrs` are "
                    "admitted to the API server, and the first deploy runs in two phases (`aienv:layers: "
                    "foundation`, then the whole stack; see docs/deploy.md). `dns_endpoint` (GCP only): the GKE "
                    "control plane's DNS-based endpoint, authorised by IAM, reachable wherever the deployer's "
                    "Google credentials are, in one pass. Default: `dns_endpoint` on GCP; required on AWS and "
                    "Azure while `api_access` is `private`.")
    cidrs: list[str] = Field(default_factory=list,
                             description="The deployer's network (for `private_network`): the CI runner subnet or "
                                         "VPN range admitted to the API server on 443.")


class ClusterSpec(Model):
    """The Kubernetes cluster: EKS, AKS or GKE."""

    kubernetes_version: str = Field(default="1.35", pattern=r"^1\.(2[89]|3[0-9])$",
                                    description="Kubernetes minor version, quoted (`\"1.35\"`); the Kubernetes layer's charts "
                                                "support `1.32` to `1.35` (Envoy Gateway v1.7's matrix), and a minor "
                                                "past the cloud's end of standard support is refused (the clouds' "
                                                "release calendars; `AIENV_TODAY` checks another day).")
    api_access: EndpointAccess = Field(default=EndpointAccess.private,
                                       description="The API server endpoint: `private` (default) or `public` "
                                                   "(then `api_allowed_cidrs` is required).")
    api_allowed_cidrs: list[str] = Field(default_factory=list,
                                         description="CIDRs allowed to reach a public API endpoint. `0.0.0.0/0` is "
                                                     "an insecure choice the packs flag.")
    deployer: DeployerSpec = Field(default_factory=DeployerSpec,
                                   description="How the deployer reaches a private API server.")
    system_pool: NodePool = Field(default_factory=NodePool, description="The system node pool.")
    gpu_pools: list[GpuPool] = Field(default_factory=list, description="GPU node pools.")


# --- model serving ---------------------------------------------------------------------------------

class Runtime(StrEnum):
    vllm = "vllm"
    triton = "triton"
    custom = "custom"


class Exposure(StrEnum):
    cluster = "cluster"
    internal = "internal"
    public = "public"


class ModelSource(Model):
    """Where a model version's weights come from. Exactly one of `huggingface`, `ngc`, `uri` or `uploaded`.

    For `huggingface`, `ngc` and `uri` the stack imports the weights into the model-artifact bucket once per
    version (idempotently, before the serving pods start); `uploaded` declares that the team's own pipeline
    puts them there.
    """

    huggingface: str | None = Field(default=None, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9._-]+$",
                                    description="Hugging Face repository id (`org/name`).")
    ngc: str | None = Field(default=None, pattern=r"^[a-z0-9._-]+(/[a-z0-9._-]+){1,2}:[A-Za-z0-9._-]+$",
                            description="NVIDIA NGC model (`org[/team]/name:version`).")
    uri: str | None = Field(default=None, pattern=r"^(s3|gs)://[^/]+/.+|^https://[^/]+\.blob\.core\.windows\.net/.+",
                            description="An existing bucket path to copy the weights from (`s3://`, `gs://` or an "
                                        "Azure blob URL); the import job's identity needs read access to it.")
    uploaded: bool = Field(default=False, description="The weights are uploaded by the team's own pipeline to the "
                                                      "model's path in the model-artifact bucket; the stack "
                                                      "imports nothing and the serving pods wait for them.")
    revision: str | None = Field(default=None, max_length=128,
                                 description="Hugging Face revision (a commit hash pins it; default `main`).")
    token_secret: str | None = Field(
        default=None, min_length=1,
        description="The cloud secret holding the Hugging Face or NGC token (required for gated models and NGC): "
                    "an AWS Secrets Manager secret name or ARN, an Azure Key Vault secret URL, or a GCP Secret "
                    "Manager secret id. Only the import job's identity may read it.")


class ModelInfo(Model):
    """What the endpoint serves. Size and precision let aienv check the model fits the GPUs."""

    name: str = Field(min_length=1, max_length=200, description="Model name or id (e.g. `meta-llama/Llama-3.1-8B-Instruct`).")
    version: str = Field(default="1", max_length=64, description="Model version in the model registry.")
    artifact_path: str | None = Field(default=None, description="Path of the weights under the model-artifact "
                                                                "bucket. Default: `models/<endpoint>/<version>/`.")
    size_billion_params: float | None = Field(default=None, gt=0, le=2000,
                                              description="Parameter count in billions, when known.")
    precision: Literal["fp32", "fp16", "bf16", "fp8", "int8", "int4"] = Field(
        default="bf16", description="Weight precision served.")
    source: ModelSource | None = Field(default=None, description="Where the weights come from (required).")


class GpuRequest(Model):
    """GPUs each replica needs."""

    type: GpuTypeName = Field(description="Neutral GPU type; a GPU pool of this type must exist.")
    count: int = Field(default=1, ge=1, le=8, description="GPUs per replica (requests equal limits).")


class Replicas(Model):
    """Replica bounds for the autoscaler."""

    min: int | None = Field(default=None, ge=0, le=1000, description="Minimum replicas. Default: 0 when the "
                                                                    "endpoint scales to zero, else 1 in dev and 2 "
                                                                    "in staging and prod (prod requires at least "
                                                                    "2).")
    max: int = Field(default=4, ge=1, le=1000, description="Maximum replicas.")


class Autoscaling(Model):
    """Horizontal autoscaling of an endpoint."""

    metric: Literal["cpu", "gpu_utilization", "requests_in_flight", "queue_depth", "kv_cache_usage"] = Field(
        default="gpu_utilization", description="What the autoscaler scales on. `queue_depth` (requests waiting "
                                               "per replica, `vllm:num_requests_waiting`) and `kv_cache_usage` "
                                               "(percent of the KV cache in use, `vllm:kv_cache_usage_perc`) are "
                                               "vLLM's own load signals (`vllm` only).")
    target: int = Field(default=70, ge=1, le=10000, description="Target value: percent for `cpu`, "
                                                                "`gpu_utilization` and `kv_cache_usage`, requests "
                                                                "for `requests_in_flight` and `queue_depth`.")


class Canary(Model):
    """A canary version that receives a share of the traffic."""

    version: str = Field(min_length=1, max_length=64, description="Model version served by the canary.")
    image: str | None = Field(default=None, description="Container image of the canary. Default: the stable image.")
    weight: int = Field(ge=0, le=100, description="Percent of traffic sent to the canary, 0 to 100.")


class RolloutAnalysis(Model):
    """The service levels a new version must hold during its rollout, measured on its own replicas from the
    stack's Prometheus; a breach rolls it back."""

    max_error_rate_percent: float = Field(default=1.0, gt=0, le=100,
                                          description="Largest share of failed requests (5xx), in percent.")
    max_p95_latency_ms: int = Field(default=2000, ge=1, le=600000, description="Largest p95 request latency.")
    max_ttft_p95_ms: int | None = Field(default=None, ge=1, le=600000,
                                        description="Largest p95 time to first token (`vllm` only, from "
                                                    "`vllm:time_to_first_token_seconds`).")
    interval_minutes: int = Field(default=2, ge=1, le=60,
                                  description="How often each measurement is taken (over that window); at most "
                                              "`step_minutes`, so every step is measured.")
    failure_limit: int = Field(default=1, ge=0, le=10,
                               description="Failed measurements tolerated per metric before the rollout is rolled "
                                           "back (0: the first failure rolls back).")


class ProgressiveRollout(Model):
    """Progressive delivery of a model version change (Argo Rollouts on the gateway's HTTPRoute): when
    `model.version` or `image` changes, the new version takes the traffic `steps` in turn, is promoted when the
    analysis holds at every step and rolled back when it does not."""

    steps: list[Annotated[int, Field(ge=1, le=100)]] = Field(
        default_factory=lambda: [10, 25, 50, 100], min_length=1, max_length=20,
        description="Percent of the traffic the new version takes at each step, increasing, ending at 100 "
                    "(full promotion).")
    step_minutes: int = Field(default=10, ge=1, le=1440, description="How long each step holds before the next.")
    analysis: RolloutAnalysis = Field(default_factory=RolloutAnalysis,
                                      description="Service levels that gate promotion.")


class ScaleToZero(Model):
    """Scaling an endpoint to zero replicas when idle (KEDA with its HTTP add-on): the first request after idle
    starts a replica (the gateway holds it while the replica starts), so the GPU pool can reach zero nodes."""

    enabled: bool | None = Field(default=None, description="Scale to zero on idle. Default: on in dev (unless "
                                                           "`replicas.min` is above 0 or the endpoint has a canary "
                                                           "or rollout), off in staging and prod (prod keeps two "
                                                           "replicas).")
    idle_minutes: int = Field(default=15, ge=1, le=1440,
                              description="Minutes without requests before the last replica is removed.")


class Capture(Model):
    """Inference capture: a sample of the requests the endpoint serves (the features the model saw) is mirrored
    at the gateway to the endpoint's capture writer, which writes it to `drift/<endpoint>/recent/` in the
    training-data bucket, encrypted with the environment's key, where the drift job reads it."""

    enabled: bool = Field(default=True, description="Capture requests. A drift monitor needs it.")
    sample_percent: float = Field(default=5.0, gt=0, le=100,
                                  description="Percent of requests mirrored to the capture writer (0.01 steps).")
    pii: Literal["redact", "keep"] = Field(
        default="redact", description="`redact`: free text is stored only as its length and word count, and "
                                      "values that look like e-mail addresses, phone, card or national id "
                                      "numbers are dropped. `keep` stores text as sent (the hipaa and gdpr packs "
                                      "refuse it).")
    retention_days: int = Field(default=30, ge=1, le=3650,
                                description="Days captured samples are kept (a lifecycle rule on the prefix).")

    @field_validator("sample_percent")
    @classmethod
    def _hundredths(cls, value: float) -> float:
        if abs(value * 100 - round(value * 100)) > 1e-6:
            raise ValueError("sample_percent is mirrored as a fraction of 10000; use at most two decimals")
        return value


class Retraining(Model):
    """What a drift alert (and a quality alert, where labels arrive) starts: a run of the cloud's pipeline
    service that trains and registers a new model version in the environment's model registry."""

    pipeline: str = Field(min_length=1, max_length=1024, description=(
        "The pipeline to run: on AWS a SageMaker pipeline name or ARN; on Azure the ARM id of an Azure ML "
        "pipeline component version in the environment's workspace or a registry "
        "(`/subscriptions/.../components/<name>/versions/<v>`); on GCP a Vertex AI pipeline template URI (`gs://...json`, "
        "`https://<region>-kfp.pkg.dev/...`)."))
    parameters: dict[Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_]{0,62}$")], str] = Field(
        default_factory=dict,
        description="Pipeline parameters; the run also gets `endpoint`, `model_version`, `reason` and "
                    "`captured_data` (the `recent/` prefix).")
    triggers: list[Literal["drift", "quality"]] = Field(
        default_factory=lambda: list[Literal["drift", "quality"]](["drift"]), min_length=1,
        description="Which alerts start a run: `drift` (`ModelEndpointDrift`), `quality` "
                    "(`ModelEndpointQualityLow`, needs `quality_threshold`).")
    quality_threshold: float | None = Field(
        default=None, ge=0, le=1,
        description="Alert when `aienv_model_quality{endpoint}` (pushed by the team's evaluation job once "
                    "labels arrive) falls below this.")
    cooldown_hours: int = Field(default=24, ge=1, le=720,
                                description="At most one run per endpoint in this many hours.")
    # "Name must be between 3 to 24 characters long. Valid characters are upper and lower case letters,
    # digits, and the - character. Name must start with a letter." (Azure ML, "Create a compute cluster")
    compute: str | None = Field(default=None, pattern=r"^[A-Za-z][A-Za-z0-9-]{2,23}$",
                                description="Azure only: the Azure ML compute cluster the pipeline runs on "
                                            "(its managed identity is the pipeline's identity).")


class Auth(Model):
    """How callers authenticate at the gateway."""

    mode: Literal["none", "api_key", "jwt"] = Field(
        default="api_key", description="`api_key` (default), `jwt` (OIDC) or `none`. `none` is possible only for "
                                       "`cluster` exposure and is an insecure choice the packs flag.")
    issuer: str | None = Field(default=None, pattern=r"^https://", description="JWT issuer URL (for `jwt`).")
    audiences: list[str] = Field(default_factory=list, description="Accepted JWT audiences (for `jwt`).")
    jwks_uri: str | None = Field(default=None, pattern=r"^https://",
                                 description="JWKS URL (for `jwt`): the `jwks_uri` of the issuer's "
                                             "`/.well-known/openid-configuration`. Required unless the issuer is "
                                             "Google or Microsoft Entra ID v2.0, whose key sets aienv knows.")


class Resources(Model):
    """CPU and memory per replica (requests equal limits for memory)."""

    cpu: str = Field(default="3", pattern=r"^\d+(\.\d+)?m?$", description="CPU request, e.g. `4` or `3500m`.")
    memory: str = Field(default="12Gi", pattern=r"^\d+(Mi|Gi)$", description="Memory request and limit, e.g. `32Gi`.")


class ModelEndpoint(Model):
    """A model served on the cluster behind the gateway."""

    name: DnsName = Field(description="Endpoint name, unique in the spec.")
    runtime: Runtime = Field(default=Runtime.vllm, description="`vllm` (OpenAI-compatible server), `triton` "
                                                               "(model repository) or `custom` (`image` and `args`).")
    image: str | None = Field(default=None, description="Image name with a tag or digest inside its family "
                                                        "repository (e.g. `vllm-openai:v0.11.0` or "
                                                        "`vllm-openai@sha256:...`), pulled through the environment's "
                                                        "registry. Required for `custom`; default per runtime "
                                                        "otherwise. `latest` is not allowed.")
    image_supply: Literal["cache", "ci"] | None = Field(
        default=None, description="How the image reaches the environment's registry: `cache` (a pull-through "
                                  "cache of the upstream registry the stack creates, for the known server "
                                  "images) or `ci` (the team's CI pushes it). Default: `cache` for `vllm` and "
                                  "`triton`, `ci` for `custom`.")
    image_family: DnsName | None = Field(default=None, description="Container registry repository the image lives "
                                                                   "in. Default: the runtime name (`custom` uses the "
                                                                   "endpoint name).")
    args: list[str] = Field(default_factory=list, description="Extra server arguments.")
    model: ModelInfo = Field(description="The model served.")
    gpu: GpuRequest = Field(description="GPUs per replica.")
    replicas: Replicas = Field(default_factory=Replicas, description="Replica bounds.")
    autoscaling: Autoscaling = Field(default_factory=Autoscaling, description="Autoscaling target.")
    canary: Canary | None = Field(default=None, description="Optional canary version and fixed traffic weight.")
    rollout: ProgressiveRollout | None = Field(default=None, description="Progressive delivery with SLO analysis "
                                                                         "and rollback of version changes "
                                                                         "(instead of a fixed `canary`).")
    scale_to_zero: ScaleToZero = Field(default_factory=ScaleToZero, description="Scaling to zero when idle.")
    capture: Capture = Field(default_factory=Capture, description="Inference capture for drift and retraining.")
    drift: bool = Field(default=True, description="Run the scheduled drift job (`monitoring.drift`) on the "
                                                  "captured samples; needs `capture`.")
    retraining: Retraining | None = Field(default=None, description="What a drift or quality alert starts.")
    weight_cache: Literal["node", "none"] = Field(
        default="node", description="`node`: the weights are cached on the GPU node's disk (encrypted with the "
                                    "environment's key), so a pod that starts on a node that has them loads "
                                    "them from there instead of copying them from the bucket. `none`: every "
                                    "pod copies them onto its own scratch volume.")
    exposure: Exposure = Field(default=Exposure.cluster, description="`cluster` (in-cluster only), `internal` "
                                                                     "(private load balancer) or `public`. "
                                                                     "`internal` and `public` require `auth`.")
    auth: Auth = Field(default_factory=Auth, description="Authentication at the gateway.")
    resources: Resources = Field(default_factory=Resources, description="CPU and memory per replica.")

    @property
    def scales_to_zero(self) -> bool:
        """Whether the endpoint scales to zero when idle (`scale_to_zero.enabled`, resolved)."""
        return bool(self.scale_to_zero.enabled)

    @property
    def supply(self) -> str:
        """`image_supply`, else `ci` for custom runtimes and `cache` otherwise."""
        return self.image_supply or ("ci" if self.runtime is Runtime.custom else "cache")

    @property
    def family(self) -> str:
        """The registry repository its images live in: `image_family`, else the runtime (or, for `custom`,
        the endpoint's name)."""
        return self.image_family or (self.name if self.runtime is Runtime.custom else self.runtime.value)


# --- data ------------------------------------------------------------------------------------------

class Feature(Model):
    """One feature of a feature view."""

    name: str = Field(pattern=FEATURE_NAME, description="Feature name (snake_case).")
    dtype: Literal["int64", "float32", "float64", "string", "bool", "bytes", "unix_timestamp"] = Field(
        default="float32", description="Value type.")


class FeatureView(Model):
    """A group of features keyed by entities, materialised to the online store."""

    name: str = Field(pattern=FEATURE_NAME, description="Feature view name (snake_case), unique in the spec.")
    entities: list[Annotated[str, Field(pattern=FEATURE_NAME)]] = Field(min_length=1,
                                                                        description="Entity join keys.")
    features: list[Feature] = Field(min_length=1, description="The features.")
    ttl_hours: int = Field(default=24, ge=1, le=8760, description="How long online values stay fresh.")


class OnlineStore(Model):
    """The low-latency online store (Redis)."""

    enabled: bool = Field(default=True, description="Provision a managed Redis as the online store.")
    size: Literal["small", "medium", "large"] = Field(default="small",
                                                      description="Capacity class, mapped to each cloud's node size.")
    high_availability: bool | None = Field(default=None, description="Replicas with automatic failover. "
                                                                     "Default: on in staging and prod, off in dev.")


class FeatureStoreSpec(Model):
    """The feature store: offline store, online store and feature views."""

    enabled: bool = Field(default=True, description="Build the feature store.")
    offline_store: bool = Field(default=True, description="Keep an offline store (S3, ADLS or BigQuery) for "
                                                          "training and backfills.")
    online_store: OnlineStore = Field(default_factory=OnlineStore, description="The online store.")
    feature_views: list[FeatureView] = Field(default_factory=list, description="Feature views.")


class ContainerRegistry(Model):
    """The container registry for serving images."""

    image_families: list[DnsName] = Field(default_factory=list,
                                          description="Extra repositories besides the ones endpoints use.")
    immutable_tags: bool = Field(default=True, description="Tags cannot be overwritten. Turning it off is "
                                                           "an insecure choice the packs flag.")
    scan_on_push: bool = Field(default=True, description="Scan images for vulnerabilities when pushed.")


class UpstreamRegistry(Model):
    """Credentials the environment's registry uses to pull through from an upstream registry."""

    username: str | None = Field(default=None, min_length=1,
                                 description="The upstream user name, when the cloud keeps only the password in the "
                                             "secret (GCP). NGC's is `$oauthtoken`.")
    username_secret: str | None = Field(
        default=None, min_length=1,
        description="Azure: the Key Vault secret holding the user name (an ACR credential set reads both the user "
                    "name and the password from Key Vault), by resource id or as a URL in the environment's vault.")
    secret: str = Field(min_length=1,
                        description="The cloud secret holding the credential: on AWS a Secrets Manager secret whose "
                                    "name starts with `ecr-pullthroughcache/` (JSON `username` and `accessToken`), "
                                    "on Azure a Key Vault secret URL of the password, on GCP a Secret Manager "
                                    "secret version of the password.")


class Registries(Model):
    """Container and model registries."""

    container: ContainerRegistry = Field(default_factory=ContainerRegistry, description="Container registry.")
    upstreams: dict[Annotated[str, Field(pattern=r"^[a-z0-9.-]+\.[a-z]{2,}$")], UpstreamRegistry] = Field(
        default_factory=dict,
        description="Credentials per upstream registry host (`docker.io`, `nvcr.io`, ...) for the pull-through "
                    "caches; required for upstreams the cloud's cache cannot pull anonymously.")
    model_registry: bool = Field(default=True, description="Provision the cloud's model registry "
                                                           "(SageMaker model package groups, Azure ML registry, "
                                                           "Vertex AI Model Registry).")


class BucketPurpose(StrEnum):
    training_data = "training_data"
    model_artifacts = "model_artifacts"
    feature_offline = "feature_offline"
    logs = "logs"
    access_logs = "access_logs"


class StorageSpec(Model):
    """Object storage by purpose."""

    retention_days: dict[BucketPurpose, int] = Field(
        default_factory=lambda: {BucketPurpose.logs: 365, BucketPurpose.access_logs: 365},
        description="Days before objects expire, per bucket purpose; purposes not listed keep objects. "
                    "Non-current versions expire after 30 days.")
    versioning: bool = Field(default=True, description="Keep object versions.")
    public_read: list[BucketPurpose] = Field(default_factory=list,
                                             description="Buckets readable by anyone. An insecure choice the packs "
                                                         "flag; empty by default.")

    @field_validator("retention_days")
    @classmethod
    def _positive(cls, value: dict[BucketPurpose, int]) -> dict[BucketPurpose, int]:
        for purpose, days in value.items():
            if days < 1:
                raise ValueError(f"retention for {purpose.value} must be at least 1 day")
        return value


# --- monitoring, budget, compliance, security -----------------------------------------------------

Severity = Literal["critical", "warning", "info"]
DEFAULT_SEVERITIES: tuple[Severity, ...] = ("critical", "warning")


class AlertRoute(Model):
    """Where alerts go."""

    name: DnsName = Field(description="Route name.")
    kind: Literal["email", "slack", "pagerduty", "webhook"] = Field(description="Channel kind.")
    target: str = Field(min_length=3, description="Email address, or the webhook URL (https).")
    severities: list[Severity] = Field(default_factory=lambda: list(DEFAULT_SEVERITIES),
                                       description="Alert severities routed here.")


class Thresholds(Model):
    """Alert thresholds for every endpoint."""

    p95_latency_ms: int = Field(default=2000, ge=1, description="p95 request latency above which to alert.")
    error_rate_percent: float = Field(default=2.0, gt=0, le=100, description="5xx rate above which to alert.")
    gpu_utilization_percent: int = Field(default=90, ge=1, le=100, description="Sustained GPU utilisation alert.")
    gpu_memory_percent: int = Field(default=95, ge=1, le=100,
                                    description="GPU memory use alert; for vLLM the KV-cache use of the memory it "
                                                "reserved at start (its device memory always looks ~90% full).")


class DriftSpec(Model):
    """Scheduled drift detection per endpoint."""

    schedule: str = Field(default="0 * * * *",
                          description="Cron schedule as a Kubernetes CronJob takes it, in UTC: five fields "
                                      "(`minute hour day-of-month month day-of-week`, e.g. `15 * * * *`) or a "
                                      "macro (`@hourly`, `@daily`, `@weekly`, `@monthly`, `@yearly`).")
    metric: Literal["psi", "ks"] = Field(default="psi", description="Drift score alerted on: population "
                                                                    "stability index or Kolmogorov-Smirnov statistic.")
    threshold: float = Field(default=0.2, gt=0, le=1, description="Score above which drift is alerted.")
    window_hours: int = Field(default=24, ge=1, le=720, description="Recent window compared with the baseline.")


class SmtpSpec(Model):
    """The mail relay Alertmanager sends email alerts through."""

    smarthost: str = Field(pattern=r"^[A-Za-z0-9.-]+:\d{2,5}$", description="Relay `host:port` (TLS required).")
    from_address: str = Field(pattern=r"^[^@\s]+@[^@\s]+$", description="Sender address of alert emails.")
    username: str | None = Field(default=None, description="SMTP user, when the relay needs authentication "
                                                           "(the password is read from the cluster secret "
                                                           "`alertmanager-smtp` in the monitoring namespace).")


class MonitoringSpec(Model):
    """Metrics, alerts, dashboards and drift."""

    alert_routes: list[AlertRoute] = Field(default_factory=list, description="Alert destinations.")
    smtp: SmtpSpec | None = Field(default=None, description="Mail relay for email routes (required when a route "
                                                            "is `email`).")
    thresholds: Thresholds = Field(default_factory=Thresholds, description="Alert thresholds.")
    drift: DriftSpec = Field(default_factory=DriftSpec, description="Drift detection.")
    retention_days: int = Field(default=15, ge=1, le=400, description="Prometheus metric retention.")
    storage_gb: int = Field(default=50, ge=10, le=10000, description="Prometheus volume size.")
    log_retention_days: int = Field(default=365, ge=1, le=3653, description="Cloud log retention.")


class BudgetSpec(Model):
    """A monthly cost budget and GPU quota caps."""

    monthly_amount: float = Field(gt=0, description="Monthly budget in `currency`.")
    currency: Literal["USD", "EUR", "GBP"] = Field(default="USD", description="Budget currency.")
    alert_thresholds_percent: list[Annotated[int, Field(ge=1, le=1000)]] = Field(
        default_factory=lambda: [50, 80, 100], description="Percent of the budget at which to notify.")
    notify_emails: list[str] = Field(default_factory=list, description="Who the budget notifies.")
    gpu_quota: dict[GpuTypeName, int] = Field(default_factory=dict,
                                              description="Maximum GPUs per type the pools may reach together.")


class PackName(StrEnum):
    security = "aienv-security"
    ai = "aienv-ai"
    deploy = "aienv-deploy"
    hipaa = "hipaa"
    gdpr = "gdpr"
    soc2 = "soc2"


class ComplianceSpec(Model):
    """Which policy packs gate this environment and where its data may live."""

    packs: list[PackName] = Field(default_factory=lambda: [PackName.security, PackName.ai, PackName.deploy],
                                  description="Policy packs `aienv check` runs by default.")
    frameworks: list[Literal["hipaa", "gdpr", "soc2", "iso27001"]] = Field(
        default_factory=list, description="Frameworks reported on.")
    allowed_regions: list[str] = Field(default_factory=list,
                                       description="Data residency: regions/locations allowed. Empty: any.")


class SecuritySpec(Model):
    """Security posture. Defaults are the secure choice; anything else is flagged by the packs."""

    encryption: Literal["customer_managed", "provider_managed"] = Field(
        default="customer_managed", description="Encrypt data with the environment's own keys, or the cloud's.")
    deletion_protection: bool = Field(default=True, description="Protect stateful resources against deletion.")
    audit_logs: bool = Field(default=True, description="Cloud audit logs (CloudTrail, diagnostic settings, "
                                                       "Data Access logs).")
    workload_permissions: Literal["scoped", "broad"] = Field(
        default="scoped", description="`scoped`: each workload reaches exactly its resources. `broad`: "
                                      "service-wide read (an insecure choice the packs flag).")
    key_rotation_days: int = Field(default=90, ge=30, le=365, description="Key rotation period.")


# --- the document ----------------------------------------------------------------------------------

class StackSpec(Model):
    """A whole AI environment on one cloud."""

    schema_: str | None = Field(default=None, alias="$schema", description="JSON Schema URL for editors.")
    extends: str | None = Field(default=None, description="Base spec to deep-merge under this one (relative path; "
                                                          "maps merge, lists replace).")
    abstract: bool = Field(default=False, description="A base that is only extended, never deployed; "
                                                      "required fields may be missing.")
    name: DnsName = Field(description="Environment name: the Pulumi stack name and the prefix of resource names. "
                                      "At most 20 characters on Azure, so derived names fit Azure's limits.")
    environment: Environment = Field(description="`dev`, `staging` or `prod`; sets the per-environment defaults.")
    owner: str = Field(min_length=1, max_length=128, description="Owning team or contact, put in tags.")
    tags: dict[str, str] = Field(default_factory=dict, description="Extra tags/labels on every resource "
                                                                   "(e.g. `cost-center`).")
    cloud: CloudSpec = Field(description="Cloud and region.")
    aws: AwsOptions = Field(default_factory=AwsOptions, description="AWS-only options.")
    azure: AzureOptions = Field(default_factory=AzureOptions, description="Azure-only options.")
    gcp: GcpOptions = Field(default_factory=GcpOptions, description="GCP-only options.")
    network: NetworkSpec = Field(default_factory=NetworkSpec, description="Network.")
    cluster: ClusterSpec = Field(default_factory=ClusterSpec, description="Kubernetes cluster and node pools.")
    model_endpoints: list[ModelEndpoint] = Field(default_factory=list, description="Models served.")
    feature_store: FeatureStoreSpec = Field(default_factory=lambda: FeatureStoreSpec(enabled=False),
                                            description="Feature store: off without this block; a "
                                                        "`feature_store:` block turns it on (`enabled` defaults to "
                                                        "true inside it) and needs a feature view.")
    registries: Registries = Field(default_factory=Registries, description="Container and model registries.")
    storage: StorageSpec = Field(default_factory=StorageSpec, description="Object storage.")
    monitoring: MonitoringSpec = Field(default_factory=MonitoringSpec, description="Monitoring and drift.")
    budget: BudgetSpec | None = Field(default=None, description="Monthly budget and GPU quota caps.")
    compliance: ComplianceSpec = Field(default_factory=ComplianceSpec, description="Policy packs and residency.")
    security: SecuritySpec = Field(default_factory=SecuritySpec, description="Security posture.")

    @property
    def is_prod(self) -> bool:
        return self.environment is Environment.prod

    @property
    def region(self) -> str:
        return self.cloud.place

    def gpu_pool(self, name: str) -> GpuPool | None:
        return next((p for p in self.cluster.gpu_pools if p.name == name), None)

    def pool_for(self, endpoint: ModelEndpoint) -> GpuPool | None:
        """The first GPU pool that can schedule one replica of `endpoint`."""
        return next((p for p in self.cluster.gpu_pools
                     if p.gpu_type == endpoint.gpu.type and p.gpus_per_node >= endpoint.gpu.count), None)

    def image_families(self) -> list[str]:
        """Container repositories: every endpoint's family plus the extra ones, in spec order."""
        families: list[str] = []
        for endpoint in self.model_endpoints:
            if endpoint.family not in families:
                families.append(endpoint.family)
        for family in self.registries.container.image_families:
            if family not in families:
                families.append(family)
        return families
