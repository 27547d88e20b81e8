"""Loading specs: extends chains, templates, locations, and one clear line per error."""

from __future__ import annotations

from pathlib import Path

import pytest

from aienv.errors import SpecError
from aienv.spec import load_spec
from tests.conftest import STACKS

MINIMAL = """\
name: {name}
environment: dev
owner: team@example.com
cloud: {{provider: aws, region: us-east-1}}
"""
# A private API server needs a deployer path; MINIMAL specs that must load add this.
DEPLOYER = "cluster: {deployer: {path: private_network, cidrs: [10.200.8.0/24]}}\n"


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def issues(exc: pytest.ExceptionInfo[SpecError]) -> list[str]:
    return exc.value.lines()


def test_reference_specs_load_with_resolved_defaults() -> None:
    dev = load_spec(STACKS / "dev-aws.yaml").spec
    prod = load_spec(STACKS / "prod-aws.yaml").spec
    assert dev.network.nat_gateways == "single" and prod.network.nat_gateways == "per_zone"
    assert dev.cluster.gpu_pools[0].min_nodes == 0  # dev scales GPU pools to zero
    assert prod.cluster.system_pool.min_nodes == 3
    assert prod.feature_store.online_store.high_availability is True
    assert dev.feature_store.online_store.high_availability is False
    # inherited from base.yaml through `extends`
    assert prod.tags["cost-center"] == "ml-1234" and prod.tags["data-classification"] == "restricted"
    assert prod.monitoring.thresholds.p95_latency_ms == 1500


def test_stack_name_resolves_to_stacks_folder() -> None:
    assert load_spec("prod-gcp").spec.cloud.project == "acme-ml-prod"


def test_stack_config_file_names_its_spec() -> None:
    loaded = load_spec(STACKS / "Pulumi.team-vision.yaml")
    assert loaded.spec.name == "team-vision"
    assert loaded.spec.cloud.region == "us-west-2"


def test_extends_deep_merges_maps_and_replaces_lists(tmp_path: Path) -> None:
    write(tmp_path, "base.yaml", "abstract: true\nowner: base@example.com\ntags: {a: '1', b: '2'}\n"
                                 "compliance: {allowed_regions: [us-east-1, us-west-2], packs: [aienv-security]}\n")
    spec = write(tmp_path, "s.yaml", "extends: base.yaml\n" + MINIMAL.format(name="s", provider="aws").replace(
        "owner: team@example.com\n", "") + "tags: {b: '3'}\ncompliance: {allowed_regions: [us-east-1]}\n" + DEPLOYER)
    loaded = load_spec(spec)
    assert loaded.spec.tags == {"a": "1", "b": "3"}
    assert loaded.spec.compliance.allowed_regions == ["us-east-1"]
    assert [p.value for p in loaded.spec.compliance.packs] == ["aienv-security"]  # untouched key survives
    assert loaded.spec.owner == "base@example.com"
    assert not loaded.spec.abstract  # being a base is not inherited


def test_chained_extends_and_error_located_in_base(tmp_path: Path) -> None:
    write(tmp_path, "root.yaml", "abstract: true\nnetwork:\n  cidr: 10.0.0.0/8\n")
    write(tmp_path, "mid.yaml", "abstract: true\nextends: root.yaml\nowner: x@example.com\n")
    spec = write(tmp_path, "leaf.yaml", "extends: mid.yaml\nname: leaf\nenvironment: dev\n"
                                        "cloud: {provider: aws, region: us-east-1}\n"
                                        "cluster: {deployer: {path: private_network, cidrs: [10.200.8.0/24]}}\n")
    with pytest.raises(SpecError) as exc:
        load_spec(spec)
    assert issues(exc) == [f"{tmp_path / 'root.yaml'}:3: network.cidr: is a /8; use a /16 to /20 so pods, "
                           "nodes and endpoints fit"]


def test_extends_cycle_reports_the_chain(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", "extends: b.yaml\nname: a\n")
    write(tmp_path, "b.yaml", "extends: a.yaml\n")
    with pytest.raises(SpecError) as exc:
        load_spec(tmp_path / "a.yaml")
    (line,) = issues(exc)
    assert line.startswith(f"{tmp_path / 'b.yaml'}:1: extends: forms a cycle (")  # the line of the `extends` closing it
    assert "a.yaml -> " in line and "b.yaml -> " in line


def test_missing_base_names_the_chain(tmp_path: Path) -> None:
    spec = write(tmp_path, "a.yaml", "name: a\nextends: nowhere.yaml\n")
    with pytest.raises(SpecError) as exc:
        load_spec(spec)
    (line,) = issues(exc)
    assert line.startswith(f"{spec}:2: extends: base spec ") and "nowhere.yaml not found" in line


def test_template_renders_with_vars_and_strict_undefined(tmp_path: Path) -> None:
    tpl = write(tmp_path, "t.yaml.j2", MINIMAL.format(name="team-{{ team }}", provider="aws") + DEPLOYER)
    assert load_spec(tpl, {"team": "nlp"}).spec.name == "team-nlp"
    vars_file = write(tmp_path, "v.yaml", "team: cv\n")
    assert load_spec(tpl, vars_file=vars_file).spec.name == "team-cv"
    assert load_spec(tpl, {"team": "x"}, vars_file=vars_file).spec.name == "team-x"  # --var wins
    with pytest.raises(SpecError) as exc:
        load_spec(tpl)
    (line,) = issues(exc)
    assert "'team' is undefined" in line and "--var" in line


def test_team_template_stamps_environments() -> None:
    a = load_spec(STACKS / "team.yaml.j2", {"team": "nlp", "region": "us-east-1", "cidr": "10.61.0.0/16",
                                            "cost_center": "c1", "gpu_max": 2, "model": "org/m", "model_size_b": 7})
    b = load_spec(STACKS / "team.yaml.j2", vars_file=STACKS / "teams" / "vision.vars.yaml")
    assert (a.spec.name, b.spec.name) == ("team-nlp", "team-vision")
    assert a.spec.model_endpoints[0].name == "nlp-assistant"


def test_errors_carry_file_line_and_path(tmp_path: Path) -> None:
    spec = write(tmp_path, "s.yaml", MINIMAL.format(name="s", provider="aws") +
                 "cluster:\n  gpu_pools:\n    - name: p\n      gpu_type: nvidia-l4\n      max_nodes: 2\n"
                 "      gpus_per_nodes: 1\n")
    with pytest.raises(SpecError) as exc:
        load_spec(spec)
    assert issues(exc) == [f"{spec}:10: cluster.gpu_pools[0].gpus_per_nodes: is not a known field; "
                           "did you mean `gpus_per_node`?"]


def test_unknown_top_level_key_lists_known_fields(tmp_path: Path) -> None:
    spec = write(tmp_path, "s.yaml", MINIMAL.format(name="s", provider="aws") + "zzz: 1\n")
    with pytest.raises(SpecError) as exc:
        load_spec(spec)
    (line,) = issues(exc)
    assert line.startswith(f"{spec}:5: zzz: is not a known field; known fields: ") and "model_endpoints" in line


def test_number_where_string_expected_suggests_quoting(tmp_path: Path) -> None:
    spec = write(tmp_path, "s.yaml", MINIMAL.format(name="s", provider="aws") +
                 "cluster:\n  kubernetes_version: 1.30\n")
    with pytest.raises(SpecError) as exc:
        load_spec(spec)
    (line,) = issues(exc)
    assert line.startswith(f"{spec}:6: cluster.kubernetes_version: ") and "quote the value" in line


def test_yaml_syntax_error_and_empty_and_non_mapping(tmp_path: Path) -> None:
    for text, expected in (("name: [x\n", "invalid YAML"), ("", "the file is empty"),
                           ("- a\n- b\n", "a spec must be a mapping")):
        spec = write(tmp_path, "s.yaml", text)
        with pytest.raises(SpecError) as exc:
            load_spec(spec)
        assert expected in issues(exc)[0]


def test_duplicate_key_is_an_error(tmp_path: Path) -> None:
    spec = write(tmp_path, "s.yaml", MINIMAL.format(name="s", provider="aws") + "owner: again@example.com\n")
    with pytest.raises(SpecError) as exc:
        load_spec(spec)
    assert issues(exc) == [f"{spec}:5: owner: is set twice in the same mapping"]


def test_missing_required_field(tmp_path: Path) -> None:
    spec = write(tmp_path, "s.yaml", "name: s\nenvironment: dev\ncloud: {provider: aws, region: us-east-1}\n")
    with pytest.raises(SpecError) as exc:
        load_spec(spec)
    assert issues(exc) == [f"{spec}:1: owner: is required; set it"]


def test_abstract_base_is_not_plannable() -> None:
    with pytest.raises(SpecError) as exc:
        load_spec(STACKS / "base.yaml")
    assert "abstract base" in issues(exc)[0]
    assert load_spec(STACKS / "base.yaml", allow_abstract=True).abstract


def test_missing_file() -> None:
    with pytest.raises(SpecError) as exc:
        load_spec("stacks/does-not-exist.yaml")
    assert issues(exc) == ["stacks/does-not-exist.yaml: <document>: file not found"]
