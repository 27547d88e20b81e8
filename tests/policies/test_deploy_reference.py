"""What `aienv-deploy` reports on each reference stack today: their real bring-up problems, by rule and count.

A ledger, not a waiver: when a fix lands (a pull-through cache, `skipAwait`, the deployer path...), the count
here drops and this test fails until the entry is removed; a new problem fails it too. When a stack's entry
is empty, `tests/test_reference_stacks.py` must gate it with aienv-deploy like its other packs.
"""

from __future__ import annotations

from collections import Counter

import pytest

from aienv.check import from_export, run_packs
from tests.plans import STACK_FILES, planned

OPEN: dict[str, dict[str, int]] = {
    # Feast's Azure image (`feast[azure]`) is the team's CI's to push (images.PUSHED_TOOL_IMAGES).
    "Pulumi.prod-azure.yaml": {"deploy-image-supplied": 2},
}


@pytest.mark.parametrize("stack_file", STACK_FILES)
def test_deploy_pack_reports_exactly_the_open_problems(stack_file: str) -> None:
    result = run_packs(from_export(planned(stack_file).to_export(), None), ["aienv-deploy"])
    assert dict(Counter(v.policy for v in result.mandatory)) == OPEN.get(stack_file, {})
