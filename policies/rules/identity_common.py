"""Identity: administrator and basic roles at any scope, on each cloud.

AWS: the `AdministratorAccess` managed policy attached to a user, group or role (every attachment resource and
a role's `managedPolicyArns`), and policies attached to users at all (grant through groups or roles). `*:*`
statements and wildcard trust are `aws-iam-no-admin` and `aws-iam-trust-policy-scoped` (aws.py).
Azure: Owner, Contributor, User Access Administrator and Role Based Access Control Administrator assignments
at any scope, and custom roles that allow `*`. GCP: the basic roles (owner, editor, viewer) on projects,
folders and organizations through IAMMember, IAMBinding and IAMPolicy.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from pulumi_policy import ResourceValidationArgs

from policies import meta as m
from policies.meta import RuleMeta
from policies.rules._base import Unknown, as_list, config_value, get, items, plain, resource_rule
from policies.rules.nouns import subject

_PRIVILEGED = m.ACCESS_CONTROL  # includes ISO 27001 A.8.2, privileged access rights

# --- AWS -------------------------------------------------------------------------------------------------------
IAM_USER_POLICY_ATTACHMENT = "aws:iam/userPolicyAttachment:UserPolicyAttachment"
IAM_GROUP_POLICY_ATTACHMENT = "aws:iam/groupPolicyAttachment:GroupPolicyAttachment"
IAM_ROLE_POLICY_ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
IAM_POLICY_ATTACHMENT = "aws:iam/policyAttachment:PolicyAttachment"
IAM_USER_ATTACHMENTS_EXCLUSIVE = "aws:iam/userPolicyAttachmentsExclusive:UserPolicyAttachmentsExclusive"
IAM_GROUP_ATTACHMENTS_EXCLUSIVE = "aws:iam/groupPolicyAttachmentsExclusive:GroupPolicyAttachmentsExclusive"
IAM_ROLE_ATTACHMENTS_EXCLUSIVE = "aws:iam/rolePolicyAttachmentsExclusive:RolePolicyAttachmentsExclusive"
IAM_USER_POLICY = "aws:iam/userPolicy:UserPolicy"
IAM_USER_POLICIES_EXCLUSIVE = "aws:iam/userPoliciesExclusive:UserPoliciesExclusive"
IAM_ROLE = "aws:iam/role:Role"
ADMIN_POLICY_ARN = "arn:aws:iam::aws:policy/AdministratorAccess"


def _is_admin_policy(arn: Any, denied: list[str]) -> bool:
    """`AdministratorAccess` in any partition (`arn:aws-cn:...`, `arn:aws-us-gov:...`), or a configured ARN."""
    if not isinstance(arn, str):
        return False
    tail = arn.split(":", 2)[-1] if arn.startswith("arn:") else arn
    return any(arn == d or (d.startswith("arn:") and tail == d.split(":", 2)[-1]) for d in denied)


@resource_rule(RuleMeta(
    name="aws-iam-no-admin-policy-attached",
    description="Do not attach the AWS-managed AdministratorAccess policy to users, groups or roles.",
    severity="critical", area="aws", controls=_PRIVILEGED,
    # Same resources and test as checkov IAMManagedAdminPolicy ("Disallow IAM roles, users, and groups from using
    # the AWS AdministratorAccess policy"), plus the *PolicyAttachmentsExclusive resources.
    checks=("CKV_AWS_274",),
    config={"deniedPolicyArns": {"type": "array", "items": {"type": "string"}, "default": [ADMIN_POLICY_ARN],
                                 "description": "Managed policies that must not be attached."}},
    remediation="Attach a policy that lists the actions and resources the principal needs; keep administrator "
                "access for break-glass roles outside the stack.",
), [IAM_USER_POLICY_ATTACHMENT, IAM_GROUP_POLICY_ATTACHMENT, IAM_ROLE_POLICY_ATTACHMENT, IAM_POLICY_ATTACHMENT,
    IAM_USER_ATTACHMENTS_EXCLUSIVE, IAM_GROUP_ATTACHMENTS_EXCLUSIVE, IAM_ROLE_ATTACHMENTS_EXCLUSIVE, IAM_ROLE])
def aws_admin_attached(args: ResourceValidationArgs) -> Iterator[str]:
    denied = [str(x) for x in (config_value(args, "deniedPolicyArns") or [ADMIN_POLICY_ARN])]
    prop = {IAM_ROLE: "managedPolicyArns"}.get(args.resource_type) or (
        "policyArns" if args.resource_type.endswith("Exclusive") else "policyArn")
    for arn in items(args.props, prop):
        if _is_admin_policy(arn, denied):
            yield f"{subject(args.resource_type, args.name)} must not attach `{arn}`."


@resource_rule(RuleMeta(
    name="aws-iam-no-user-policies",
    description="Attach IAM policies to groups or roles, never directly to users.",
    severity="medium", area="aws", controls=m.ACCESS_CONTROL,
    # checkov IAMPolicyAttachedToGroupOrRoles (user policy, user policy attachment, policy attachment `users`);
    # AWS Config iam-user-no-policies-check.
    checks=("CKV_AWS_40", "CFG IAM_USER_NO_POLICIES_CHECK"),
    remediation="Put the user in a group that carries the policy (or let the workload assume a role).",
), [IAM_USER_POLICY, IAM_USER_POLICY_ATTACHMENT, IAM_POLICY_ATTACHMENT, IAM_USER_ATTACHMENTS_EXCLUSIVE,
    IAM_USER_POLICIES_EXCLUSIVE])
def aws_user_policies(args: ResourceValidationArgs) -> Iterator[str]:
    s = subject(args.resource_type, args.name)
    if args.resource_type == IAM_POLICY_ATTACHMENT:
        users = items(args.props, "users")
        if users:
            yield f"{s} must not attach the policy to users ({', '.join(str(u) for u in users)}); use groups or roles."
    elif args.resource_type == IAM_USER_ATTACHMENTS_EXCLUSIVE:
        if items(args.props, "policyArns"):
            yield f"{s} must not attach policies to a user; use groups or roles."
    elif args.resource_type == IAM_USER_POLICIES_EXCLUSIVE:
        if items(args.props, "policyNames"):
            yield f"{s} must not give a user inline policies; use groups or roles."
    else:
        yield f"{s} must not grant permissions to a user directly; attach the policy to a group or role."


# --- Azure ---------------------------------------------------------------------------------------------------------
ROLE_ASSIGNMENT = "azure-native:authorization:RoleAssignment"
ROLE_DEFINITION = "azure-native:authorization:RoleDefinition"
# Built-in role definition ids (https://learn.microsoft.com/azure/role-based-access-control/built-in-roles/general
# and .../privileged): Owner and Contributor allow `*` actions; User Access Administrator and Role Based Access
# Control Administrator can grant any role, including Owner, to anyone.
PRIVILEGED_ROLES: dict[str, str] = {
    "8e3af657-a8ff-443c-a75c-2fe8c4bcb635": "Owner",
    "b24988ac-6180-42a0-ab88-20f7382dd24c": "Contributor",
    "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9": "User Access Administrator",
    "f58310d9-a9f6-439a-9e8d-f62e7b41a168": "Role Based Access Control Administrator",
}


@resource_rule(RuleMeta(
    name="azure-no-privileged-role-assignments",
    description="Do not assign Owner, Contributor, User Access Administrator or Role Based Access Control "
                "Administrator, at any scope.",
    severity="critical", area="azure", controls=_PRIVILEGED,
    remediation="Assign a built-in role scoped to what the principal does (e.g. Storage Blob Data Reader on one "
                "container, AcrPull on one registry), or a custom role with the needed actions; keep privileged "
                "roles for Privileged Identity Management (just-in-time) outside the stack.",
), [ROLE_ASSIGNMENT])
def azure_privileged_assignment(args: ResourceValidationArgs) -> Iterator[str]:
    role = str(get(args.props, "roleDefinitionId") or "").rstrip("/").rsplit("/", 1)[-1].lower()
    if role in PRIVILEGED_ROLES:
        scope = get(args.props, "scope")
        where = f" on `{scope}`" if isinstance(scope, str) else ""
        yield f"{subject(args.resource_type, args.name)} must not assign {PRIVILEGED_ROLES[role]}{where}."


@resource_rule(RuleMeta(
    name="azure-no-custom-owner-roles",
    description="Do not define custom roles that allow every action (`*`).",
    severity="high", area="azure", controls=_PRIVILEGED,
    # Same test as checkov CustomRoleDefinitionSubscriptionOwner: `*` in permissions[].actions.
    checks=("CKV_AZURE_39",),
    remediation="List the resource-provider operations the role needs in permissions.actions.",
), [ROLE_DEFINITION])
def azure_custom_owner(args: ResourceValidationArgs) -> Iterator[str]:
    for perm in items(args.props, "permissions"):
        if "*" in [str(a) for a in items(perm, "actions")]:
            yield f"{subject(args.resource_type, args.name)} must not allow every action (`*`)."
            return


# --- GCP -----------------------------------------------------------------------------------------------------------
BASIC_ROLES = ("roles/owner", "roles/editor", "roles/viewer")
GCP_IAM_MEMBERS = frozenset({"gcp:projects/iAMMember:IAMMember", "gcp:folder/iAMMember:IAMMember",
                             "gcp:organizations/iAMMember:IAMMember"})
GCP_IAM_BINDINGS = frozenset({"gcp:projects/iAMBinding:IAMBinding", "gcp:folder/iAMBinding:IAMBinding",
                              "gcp:organizations/iAMBinding:IAMBinding"})
GCP_IAM_POLICIES = frozenset({"gcp:projects/iAMPolicy:IAMPolicy", "gcp:folder/iAMPolicy:IAMPolicy",
                              "gcp:organizations/iAMPolicy:IAMPolicy"})


def _scope(resource_type: str) -> str:
    return {"projects": "project", "folder": "folder", "organizations": "organization"}[resource_type.split(":")[1].split("/")[0]]


def _policy_bindings(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, str):
        try:
            doc = json.loads(value)
        except ValueError:
            return []
    else:
        doc = plain(value) if value is not None else None
    return [b for b in (doc or {}).get("bindings", []) if isinstance(b, dict)] if isinstance(doc, dict) else []


@resource_rule(RuleMeta(
    name="gcp-iam-no-basic-roles",
    description="Do not grant the basic roles (owner, editor, viewer) on projects, folders or organizations.",
    severity="high", area="gcp", controls=_PRIVILEGED,
    # checkov GoogleOrgBasicRole / GoogleFolderBasicRole / GoogleProjectBasicRole (IAM member and binding); this
    # rule also reads authoritative IAMPolicy documents.
    checks=("CKV_GCP_115", "CKV_GCP_116", "CKV_GCP_117"),
    remediation="Grant predefined roles for the services the member uses (e.g. roles/storage.objectViewer on a "
                "bucket), or a custom role with the permissions it needs.",
), GCP_IAM_MEMBERS | GCP_IAM_BINDINGS | GCP_IAM_POLICIES)
def gcp_basic_roles(args: ResourceValidationArgs) -> Iterator[str]:
    scope = _scope(args.resource_type)
    s = subject(args.resource_type, args.name)
    if args.resource_type in GCP_IAM_POLICIES:
        raw = get(args.props, "policyData")
        if raw is not None and not isinstance(raw, str | dict) and not hasattr(raw, "keys"):
            raise Unknown("policyData")
        for b in _policy_bindings(raw):
            if b.get("role") in BASIC_ROLES:
                yield f"{s} must not grant the basic role `{b['role']}` on the {scope}."
        return
    role = get(args.props, "role")
    if role in BASIC_ROLES:
        who = get(args.props, "member") or ", ".join(str(x) for x in as_list(get(args.props, "members")))
        yield f"{s} must not grant the basic role `{role}` on the {scope} (to {who})."


RULES = (aws_admin_attached, aws_user_policies, azure_privileged_assignment, azure_custom_owner, gcp_basic_roles)
