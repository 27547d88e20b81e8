"""docs/deploy.md's Azure prerequisites against what the prod-azure plan really creates (field report A6, D3)."""

from __future__ import annotations

import re
from pathlib import Path

from tests.plans import planned

ROOT = Path(__file__).resolve().parents[2]
# azure-native modules whose resources belong to a resource provider of another name (their ARM types:
# Microsoft.Insights/components, /actionGroups, /diagnosticSettings, Microsoft.Network/privateDnsZones,
# Microsoft.Cache/redis, Microsoft.Cache/redisEnterprise).
NAMESPACE_OF = {"applicationinsights": "Microsoft.Insights", "monitor": "Microsoft.Insights",
                "privatedns": "Microsoft.Network", "redis": "Microsoft.Cache",
                "redisenterprise": "Microsoft.Cache"}
# Registered in every subscription (Microsoft, "Resource providers for Azure services": "registered by default").
ALWAYS_REGISTERED = {"resources", "authorization"}


def _azure_section() -> str:
    text = (ROOT / "docs" / "deploy.md").read_text()
    return text[text.index("<!-- azure:start -->"):text.index("<!-- azure:end -->")]


def test_every_resource_provider_the_plan_uses_is_in_the_prerequisites() -> None:
    listed = set(re.findall(r"`(Microsoft\.[A-Za-z]+)`", _azure_section().split("**Resource providers**")[1]
                            .split("- **Features**")[0]))
    modules = {r.type.split(":")[1] for r in planned("prod-azure.yaml").resources
               if r.type.startswith("azure-native:")} - ALWAYS_REGISTERED
    needed = {NAMESPACE_OF.get(m) or next((n for n in listed if n.lower() == f"microsoft.{m}"), f"<{m}>")
              for m in modules}
    assert needed <= listed, f"add to docs/deploy.md's resource providers: {sorted(needed - listed)}"
    # Azure ML with customer-managed keys also needs these (Microsoft, "Use customer-managed keys with Azure
    # Machine Learning": "The following Azure resource providers must be registered").
    assert {"Microsoft.DocumentDB", "Microsoft.Search"} <= listed


def test_the_deployer_roles_can_create_the_resource_group_lock() -> None:
    roles = _azure_section().split("### 2. The deployer's roles")[1].split("### 3.")[0]
    # "To create management locks, you must have access to Microsoft.Authorization/* or
    # Microsoft.Authorization/locks/* actions. Of the built-in roles, only Owner and User Access Administrator are
    # granted those actions" (Microsoft, Management Locks - Create Or Update At Resource Group Level).
    assert "User Access Administrator" in roles and "CanNotDelete" in roles
