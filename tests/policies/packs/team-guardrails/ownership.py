"""Team rule: every stack names an on-call owner through a tagged SNS topic."""

from collections.abc import Iterator

from pulumi_policy import StackValidationArgs

from policies import meta as m
from policies.meta import RuleMeta
from policies.rules._base import get, stack_rule


@stack_rule(RuleMeta(
    name="team-stack-has-oncall-topic",
    description="Give every stack an SNS topic tagged `oncall` for its alerts.",
    severity="low", area="stack", enforcement="advisory", controls=m.MONITORING,
    remediation="Create an aws.sns.Topic with tags {oncall: <team>}.",
), ["aws:sns/topic:Topic"])
def oncall(args: StackValidationArgs) -> Iterator[tuple[str, str | None]]:
    if not any(r.resource_type == "aws:sns/topic:Topic" and (get(r.props, "tags") or {}).get("oncall")
               for r in args.resources):
        yield "The stack must have an SNS topic tagged `oncall`.", None


RULES = (oncall,)
