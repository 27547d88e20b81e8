"""The offline engine: plan a Pulumi program in-process against a recording mock monitor.

    from aienv.engine import plan_program
    plan = plan_program(lambda: build_environment(spec), stack=spec.name)
    plan.resources, plan.outputs, plan.to_export(), plan.summary()
"""

from aienv.engine.model import Plan, ProgramError, RecordedResource, cloud_of
from aienv.engine.runner import plan_program

__all__ = ["Plan", "ProgramError", "RecordedResource", "cloud_of", "plan_program"]
