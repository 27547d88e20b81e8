"""Team rule: databases outside production stay on small instance classes."""

from collections.abc import Iterator

from pulumi_policy import ResourceValidationArgs

from policies import meta as m
from policies.meta import RuleMeta
from policies.rules._base import config_value, get, resource_rule, subject

from ._sizes import SMALL_DB_CLASSES


@resource_rule(RuleMeta(
    name="team-rds-small-outside-prod",
    description="Keep RDS instances outside production on small instance classes.",
    severity="medium", area="aws", controls=m.CAPACITY,
    config={"allowedClasses": {"type": "array", "items": {"type": "string"}, "default": list(SMALL_DB_CLASSES)}},
    remediation="Pick one of the allowed instance classes, or tag the stack as production.",
), ["aws:rds/instance:Instance"])
def rds_small(args: ResourceValidationArgs) -> Iterator[str]:
    allowed = config_value(args, "allowedClasses", list(SMALL_DB_CLASSES))
    cls = get(args.props, "instanceClass")
    if args.stack_tags.get("aienv-tier") != "prod" and cls not in allowed:
        yield f"{subject(args.resource_type, args.name)} must use a small instance class outside production, not `{cls}`."


RULES = (rds_small,)
