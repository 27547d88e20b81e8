"""Policy metadata: severities, enforcement defaults, framework control mappings, config schemas.

No Pulumi import: the metadata is plain data that the rules, the packs and the reports share.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Severity = Literal["low", "medium", "high", "critical"]
Enforcement = Literal["advisory", "mandatory", "remediate", "disabled"]
Area = Literal["aws", "azure", "gcp", "kubernetes", "ai", "stack", "deploy"]

SEVERITY_ORDER: tuple[Severity, ...] = ("critical", "high", "medium", "low")

# Framework keys used in `RuleMeta.controls` and the compliance packs.
FRAMEWORKS: dict[str, dict[str, str]] = {
    "hipaa": {"name": "HIPAA Security Rule", "version": "45 CFR 164 (2013)",
              "reference": "https://www.ecfr.gov/current/title-45/subtitle-A/subchapter-C/part-164/subpart-C"},
    "gdpr": {"name": "GDPR", "version": "2016/679",
             "reference": "https://eur-lex.europa.eu/eli/reg/2016/679/oj"},
    "soc2": {"name": "SOC 2", "version": "2017 TSC (rev. 2022)",
             "reference": "https://www.aicpa-cima.com/resources/download/2017-trust-services-criteria-with-revised-points-of-focus-2022"},
    "iso27001": {"name": "ISO/IEC 27001", "version": "2022", "reference": "https://www.iso.org/standard/27001"},
    "cis": {"name": "Checkov / CIS benchmarks", "version": "", "reference": "https://www.checkov.io/"},
}

# Human titles of the controls the rules cite (used by the compliance report).
CONTROL_TITLES: dict[str, dict[str, str]] = {
    "hipaa": {
        "164.312(a)(1)": "Access control",
        "164.312(a)(2)(iv)": "Encryption and decryption",
        "164.312(b)": "Audit controls",
        "164.312(c)(1)": "Integrity",
        "164.312(d)": "Person or entity authentication",
        "164.312(e)(1)": "Transmission security",
        "164.312(e)(2)(ii)": "Transmission security: encryption",
        "164.502(b)": "Minimum necessary",
    },
    "gdpr": {
        "Art. 5(1)(c)": "Data minimisation",
        "Art. 25": "Data protection by design and by default",
        "Art. 32": "Security of processing",
        "Art. 32(1)(a)": "Security of processing: encryption",
        "Art. 32(1)(b)": "Security of processing: confidentiality, integrity, availability, resilience",
        "Art. 32(1)(c)": "Security of processing: restore availability",
        "Art. 32(1)(d)": "Security of processing: testing and evaluating",
        "Art. 44": "Transfers to third countries",
    },
    "soc2": {
        "CC6.1": "Logical access security, encryption keys",
        "CC6.3": "Role-based access, least privilege",
        "CC6.6": "Boundary protection",
        "CC6.7": "Data transmission protection",
        "CC6.8": "Prevent unauthorized or malicious software",
        "CC7.1": "Vulnerability and configuration detection",
        "CC7.2": "Monitoring of system components",
        "CC8.1": "Change management",
        "A1.1": "Capacity management",
        "A1.2": "Recovery infrastructure, backups",
    },
    "iso27001": {
        "A.5.15": "Access control",
        "A.5.34": "Privacy and protection of PII",
        "A.8.2": "Privileged access rights",
        "A.8.5": "Secure authentication",
        "A.8.6": "Capacity management",
        "A.8.8": "Management of technical vulnerabilities",
        "A.8.9": "Configuration management",
        "A.8.13": "Information backup",
        "A.8.14": "Redundancy of information processing facilities",
        "A.8.15": "Logging",
        "A.8.16": "Monitoring activities",
        "A.8.20": "Networks security",
        "A.8.22": "Segregation of networks",
        "A.8.24": "Use of cryptography",
        "A.8.32": "Change management",
    },
}

Controls = Mapping[str, tuple[str, ...]]


def controls(**by_framework: tuple[str, ...] | str) -> dict[str, tuple[str, ...]]:
    return {k: (v,) if isinstance(v, str) else tuple(v) for k, v in by_framework.items()}


def merge(*groups: Controls) -> dict[str, tuple[str, ...]]:
    out: dict[str, list[str]] = {}
    for group in groups:
        for fw, ids in group.items():
            bucket = out.setdefault(fw, [])
            bucket.extend(i for i in ids if i not in bucket)
    return {k: tuple(v) for k, v in out.items()}


# Control groups the rules combine.
ENCRYPTION_AT_REST = controls(hipaa="164.312(a)(2)(iv)", gdpr="Art. 32(1)(a)", soc2="CC6.1", iso27001="A.8.24")
KEY_MANAGEMENT = controls(hipaa="164.312(a)(2)(iv)", gdpr="Art. 32(1)(a)", soc2="CC6.1", iso27001="A.8.24")
ENCRYPTION_IN_TRANSIT = controls(hipaa=("164.312(e)(1)", "164.312(e)(2)(ii)"), gdpr="Art. 32(1)(a)",
                                 soc2="CC6.7", iso27001="A.8.24")
ACCESS_CONTROL = controls(hipaa="164.312(a)(1)", gdpr=("Art. 25", "Art. 32"), soc2=("CC6.1", "CC6.3"),
                          iso27001=("A.5.15", "A.8.2"))
AUTHENTICATION = controls(hipaa="164.312(d)", gdpr="Art. 32", soc2="CC6.1", iso27001="A.8.5")
NETWORK_EXPOSURE = controls(hipaa="164.312(e)(1)", gdpr="Art. 25", soc2="CC6.6", iso27001=("A.8.20", "A.8.22"))
AUDIT_LOGGING = controls(hipaa="164.312(b)", gdpr="Art. 32(1)(d)", soc2="CC7.2", iso27001="A.8.15")
MONITORING = controls(hipaa="164.312(b)", soc2="CC7.2", iso27001="A.8.16")
INTEGRITY = controls(hipaa="164.312(c)(1)", gdpr="Art. 32(1)(b)", soc2="CC8.1", iso27001="A.8.32")
AVAILABILITY = controls(gdpr=("Art. 32(1)(b)", "Art. 32(1)(c)"), soc2="A1.2", iso27001=("A.8.13", "A.8.14"))
WORKLOAD_HARDENING = controls(hipaa="164.312(a)(1)", gdpr="Art. 32", soc2="CC6.8", iso27001="A.8.9")
SUPPLY_CHAIN = controls(hipaa="164.312(c)(1)", soc2=("CC6.8", "CC8.1"), iso27001="A.8.32")
VULNERABILITY = controls(soc2="CC7.1", iso27001="A.8.8")
CAPACITY = controls(soc2="A1.1", iso27001="A.8.6")
RESIDENCY = controls(gdpr="Art. 44", iso27001="A.5.34")
CONFIGURATION = controls(soc2="CC7.1", iso27001="A.8.9")


@dataclass(frozen=True)
class RuleMeta:
    """Everything about a policy except its check function."""

    name: str  # kebab-case, unique across all packs
    description: str  # imperative: "Block all public access to S3 buckets."
    severity: Severity
    area: Area
    remediation: str
    enforcement: Enforcement = "mandatory"
    controls: Controls = field(default_factory=dict)
    checks: tuple[str, ...] = ()  # anchor ids, e.g. CKV_AWS_53, CFG S3_BUCKET_LOGGING_ENABLED
    config: Mapping[str, Mapping[str, Any]] | None = None  # JSON-schema properties (with defaults)
    required_config: tuple[str, ...] = ()

    def tags(self) -> list[str]:
        out = [f"area:{self.area}"]
        for fw, ids in self.controls.items():
            out.extend(f"{fw}:{i}" for i in ids)
        out.extend(f"check:{c}" for c in self.checks)
        return out

    def config_defaults(self) -> dict[str, Any]:
        return {k: v["default"] for k, v in (self.config or {}).items() if "default" in v}
