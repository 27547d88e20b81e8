"""Values checked as the platforms check them: cron schedules (Kubernetes CronJob), regions and zones (the clouds'
lists), e-mail addresses and URLs; and every message an English sentence that names what to write instead."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from aienv.errors import SpecError
from aienv.gpus import CATALOGUE
from aienv.spec import load_spec
from aienv.spec.cron import schedule_problem
from aienv.spec.loader import _PATTERN_RULES
from aienv.spec.regions import REGIONS
from aienv.spec.schema import json_schema
from tests.spec.test_rules import only, problems, reference

# --- cron: robfig/cron v3 ParseStandard, as the API server validates spec.schedule ---------------------------

ACCEPTED = ["0 * * * *", "15 * * * *", "*/15 9-17 * * 1-5", "0 0 1 jan,jul *", "0 6 * * MON-FRI", "5/10 * * * *",
            "0 0 ? * ?", "0 0 * * 0", "0 12 31 12 6", "@hourly", "@daily", "@midnight", "@weekly", "@monthly",
            "@yearly", "@annually", "@every 1h30m"]
REFUSED = {
    "61 * * * *": "the minute field `61` is out of range; use 0-59",
    "0 25 * * *": "the hour field `25` is out of range; use 0-23",
    "*/0 * * * *": "the minute field `*/0` needs a positive whole step after `/`, e.g. `*/15`",
    "0 0 32 13 *": "the day of month field `32` is out of range; use 1-31",
    "a b c d e": "the minute field has `a`, which is not a number or name; use 0-59",
    "0 0 * * 8": "the day of week field `8` is out of range; use 0-6 or sun-sat (Sunday is 0)",
    "0 0 * * 7": "the day of week field `7` is out of range; use 0-6 or sun-sat (Sunday is 0)",
    "0 0 * 13 *": "the month field `13` is out of range; use 1-12 or jan-dec",
    "30-10 * * * *": "the minute range `30-10` runs backwards; write the smaller value first",
    "every hour": "has 2 fields; write five fields",
    "0 * * * * *": "has 6 fields; write five fields",
    "@HOURLY": "is not a cron macro; use one of `@yearly`",
    "CRON_TZ=UTC 0 * * * *": "Kubernetes refuses TZ= and CRON_TZ= in a CronJob schedule",
}


@pytest.mark.parametrize("schedule", ACCEPTED)
def test_kubernetes_schedules_are_accepted(schedule: str) -> None:
    assert schedule_problem(schedule) is None


@pytest.mark.parametrize("schedule, message", REFUSED.items())
def test_schedules_kubernetes_refuses_are_refused(schedule: str, message: str) -> None:
    problem = schedule_problem(schedule)
    assert problem is not None and message in problem


def test_drift_schedule_is_checked_in_the_spec(tmp_path: Path) -> None:
    def set_schedule(value: str) -> Any:
        return lambda d: d.setdefault("monitoring", {}).setdefault("drift", {}).__setitem__("schedule", value)

    assert only(tmp_path, "prod-gcp.yaml", set_schedule("61 * * * *")) == (
        "monitoring.drift.schedule", "`61 * * * *`: the minute field `61` is out of range; use 0-59")
    data = reference("prod-gcp.yaml")
    set_schedule("@hourly")(data)
    assert problems(tmp_path, data) == []


# --- regions and zones -------------------------------------------------------------------------------------

def test_a_misspelt_region_is_refused_on_the_region_even_without_gpu_pools(tmp_path: Path) -> None:
    data = reference("prod-gcp.yaml")
    data["cluster"]["gpu_pools"] = []
    data["model_endpoints"] = []
    data["cloud"]["region"] = "europe-west44"
    data["compliance"]["allowed_regions"] = []
    assert problems(tmp_path, data) == [
        ("cloud.region", "`europe-west44` is not a GCP region; did you mean `europe-west4`?")]


def test_a_bad_region_blames_the_region_not_the_gpu_pools(tmp_path: Path) -> None:
    data = reference("prod-gcp.yaml")
    data["cloud"]["region"] = "eu-west-4"
    data["compliance"]["allowed_regions"] = []
    found = problems(tmp_path, data)
    assert [path for path, _ in found] == ["cloud.region"]
    assert found[0][1].startswith("`eu-west-4` is not a GCP region")


def test_another_clouds_region_says_so(tmp_path: Path) -> None:
    data = reference("prod-gcp.yaml")
    data["cloud"]["region"] = "eu-west-1"
    data["compliance"]["allowed_regions"] = ["eu-west-1"]
    found = dict(problems(tmp_path, data))
    assert found["cloud.region"].startswith("`eu-west-1` is not a GCP region but an AWS one")


def test_azure_location_with_a_hyphen_is_refused_with_its_name(tmp_path: Path) -> None:
    data = reference("prod-azure.yaml")
    data["cloud"]["location"] = "west-europe"
    data["compliance"]["allowed_regions"] = ["west-europe"]
    assert ("cloud.location", "`west-europe` is not an Azure location; did you mean `westeurope`?") in \
        problems(tmp_path, data)


def test_allowed_regions_must_be_region_names(tmp_path: Path) -> None:
    assert only(tmp_path, "prod-aws.yaml", lambda d: d["compliance"].__setitem__(
        "allowed_regions", ["us-east-1", "us-west-2", "us-wets-2"])) == (
        "compliance.allowed_regions[2]", "`us-wets-2` is not a region or location of AWS, Azure or GCP; "
                                         "did you mean `us-west-2`?")


def test_the_gpu_catalogue_names_only_real_regions() -> None:
    """Each cloud's table and the GPU catalogue agree: every region the catalogue sells a GPU in exists."""
    for gpu in CATALOGUE.values():
        for cloud, offer in gpu.offers.items():
            assert offer.regions <= REGIONS[cloud], (gpu.name, cloud, offer.regions - REGIONS[cloud])


def test_every_reference_spec_region_is_known() -> None:
    for name in ("dev-aws.yaml", "prod-aws.yaml", "prod-azure.yaml", "prod-gcp.yaml"):
        spec = load_spec(Path("stacks") / name).spec
        assert spec.region in REGIONS[spec.cloud.provider]


def test_options_of_another_cloud_are_refused(tmp_path: Path) -> None:
    assert only(tmp_path, "prod-aws.yaml", lambda d: d.__setitem__("gcp", {"release_channel": "STABLE"})) == (
        "gcp", "holds gcp-only options but cloud.provider is `aws`; remove it")


# --- e-mail addresses and URLs -----------------------------------------------------------------------------

@pytest.mark.parametrize("address", ["not-an-email", "a@b", "two@@example.com", "a b@example.com", "x@example.",
                                     ".x@example.com", "x@-example.com"])
def test_budget_emails_are_checked(tmp_path: Path, address: str) -> None:
    data = reference("prod-aws.yaml")
    data["budget"]["notify_emails"] = ["finops@example.com", address]
    assert problems(tmp_path, data) == [
        ("budget.notify_emails[1]", f"`{address}` is not an email address; write it as name@example.com")]


def test_alert_route_and_sender_addresses_are_checked(tmp_path: Path) -> None:
    data = reference("prod-aws.yaml")
    data["monitoring"]["alert_routes"].append({"name": "mail", "kind": "email", "target": "oncall@localhost"})
    data["monitoring"]["smtp"] = {"smarthost": "smtp.example.com:587", "from_address": "alerts@example"}
    found = dict(problems(tmp_path, data))
    assert found == {
        f"monitoring.alert_routes[{len(data['monitoring']['alert_routes']) - 1}].target":
            "`oncall@localhost` is not an email address; write it as name@example.com",
        "monitoring.smtp.from_address": "`alerts@example` is not an email address; write it as name@example.com"}


@pytest.mark.parametrize("url", ["https://", "https:///hooks", "http://hooks.example.com/x", "https://a b.com/x",
                                 "hooks.example.com"])
def test_webhook_urls_need_https_and_a_host(tmp_path: Path, url: str) -> None:
    data = reference("prod-aws.yaml")
    data["monitoring"]["alert_routes"].append({"name": "hook", "kind": "webhook", "target": url})
    ((path, message),) = problems(tmp_path, data)
    assert path.endswith(".target") and message == (
        f"`{url}` is not an https:// URL with a host name; write e.g. `https://hooks.example.com/alerts` "
        "(a webhook route posts to an https URL)")


def test_jwt_issuer_must_be_a_url(tmp_path: Path) -> None:
    data = reference("prod-gcp.yaml")
    auth = next(e["auth"] for e in data["model_endpoints"] if e.get("auth", {}).get("mode") == "jwt")
    auth["issuer"] = "https://"
    found = dict(problems(tmp_path, data))
    (issuer,) = [path for path in found if path.endswith("auth.issuer")]
    assert found[issuer] == ("`https://` is not an https:// URL with a host name; write e.g. "
                             "`https://login.example.com/`")


# --- messages ----------------------------------------------------------------------------------------------

def _patterns(node: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(node, dict):
        if isinstance(node.get("pattern"), str):
            found.add(node["pattern"])
        for value in node.values():
            found |= _patterns(value)
    elif isinstance(node, list):
        for value in node:
            found |= _patterns(value)
    return found


def test_every_pattern_of_the_spec_has_an_english_message() -> None:
    missing = _patterns(json_schema()) - set(_PATTERN_RULES)
    assert not missing, f"add a message to aienv/spec/loader.py _PATTERN_RULES for {missing}"


@pytest.mark.parametrize("mutate, path, message", [
    (lambda d: d["model_endpoints"][0].setdefault("resources", {}).__setitem__("memory", "28GB"),
     "model_endpoints[0].resources.memory",
     "`28GB` is not a memory quantity: write a whole number of Mi or Gi (e.g. `32Gi` or `28672Mi`)"),
    (lambda d: d["model_endpoints"][0].setdefault("resources", {}).__setitem__("cpu", "six"),
     "model_endpoints[0].resources.cpu", "`six` is not a CPU quantity: write cores (`4`, `0.5`) or millicores "
                                         "(`3500m`)"),
    (lambda d: d["cluster"].__setitem__("kubernetes_version", "1.20"), "cluster.kubernetes_version",
     "`1.20` is not a Kubernetes minor version: write `1.<minor>`, quoted (\"1.32\"); "
     "the Kubernetes layer supports 1.32 to 1.35"),
    (lambda d: d["cloud"].__setitem__("project", "My Project"), "cloud.project",
     "`My Project` is not a GCP project id: write 6 to 30 lowercase letters, digits or hyphens, starting with a "
     "letter and not ending with a hyphen (the id `gcloud projects list` shows, not the display name or number)"),
    (lambda d: d["compliance"]["packs"].insert(0, "gpdr"), "compliance.packs[0]",
     "is `gpdr`, which is not one of `aienv-security`, `aienv-ai`, `aienv-deploy`, `hipaa`, `gdpr`, `soc2`; "
     "did you mean `gdpr`?"),
    (lambda d: d["storage"].setdefault("retention_days", {}).__setitem__("logs", -5), "storage.retention_days",
     "retention for logs must be at least 1 day"),
])
def test_messages_name_what_to_write(tmp_path: Path, mutate: Any, path: str, message: str) -> None:
    assert only(tmp_path, "prod-gcp.yaml", mutate) == (path, message)


def test_no_message_leaks_a_regular_expression(tmp_path: Path) -> None:
    data = reference("prod-aws.yaml")
    data["aws"] = {"account_id": "12345"}
    data["monitoring"]["smtp"] = {"smarthost": "smtp", "from_address": "alerts"}
    data["model_endpoints"][0]["model"]["source"] = {"huggingface": "not a repo"}
    found = problems(tmp_path, data)
    assert len(found) == 4
    for _, message in found:
        assert not re.search(r"[\^$]|\\d|\[.*\]\{", message), message
        assert "must match" not in message and "Input should" not in message


# --- where specs are found, and what the loader says when they are not -----------------------------------

def test_a_stack_name_resolves_to_its_stack_config() -> None:
    loaded = load_spec("team-vision")
    assert loaded.path.name == "team.yaml.j2" and loaded.spec.name == "team-vision"


def test_a_missing_stack_says_where_it_looked() -> None:
    with pytest.raises(SpecError) as exc:
        load_spec("nonexistent")
    (line,) = exc.value.lines()
    assert line == ("nonexistent: <document>: no spec named `nonexistent`: looked for stacks/nonexistent.yaml, "
                    "stacks/nonexistent.yaml.j2, stacks/Pulumi.nonexistent.yaml; give the spec's path or run "
                    "from the project root")


def test_an_undefined_template_variable_names_its_line(tmp_path: Path) -> None:
    spec = tmp_path / "t.yaml.j2"
    spec.write_text("name: {{ team }}-dev\nenvironment: dev\nowner: {{ owner }}\n")
    with pytest.raises(SpecError) as exc:
        load_spec(spec, {"team": "nlp"})
    assert exc.value.lines() == [f"{spec}:3: <document>: template variable 'owner' is undefined; pass it with "
                                 "--var NAME=VALUE or a --vars file"]


def test_a_vars_file_that_is_a_list_says_so(tmp_path: Path) -> None:
    bad = tmp_path / "bad.vars.yaml"
    bad.write_text("- team\n- nlp\n")
    with pytest.raises(SpecError) as exc:
        load_spec("stacks/team.yaml.j2", vars_file=bad)
    assert exc.value.lines() == [f"{bad}:1: <document>: a vars file must be a mapping of template variables "
                                 "(NAME: value)"]


def test_an_unknown_yaml_tag_is_an_error_not_a_crash(tmp_path: Path) -> None:
    bad = tmp_path / "tag.yaml"
    bad.write_text("name: x\nowner: !0 y\n")
    with pytest.raises(SpecError) as exc:
        load_spec(bad)
    (line,) = exc.value.lines()
    assert line.startswith(f"{bad}:2: <document>: invalid YAML: could not determine a constructor for the tag")
