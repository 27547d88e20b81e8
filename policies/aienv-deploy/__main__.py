"""CrossGuard policy pack `aienv-deploy` (run by the Pulumi CLI: `pulumi preview --policy-pack policies/aienv-deploy`).

This file only builds the PolicyPack. The rules live in the `policies` package of this repository
(`policies.rules.*`, selected and configured in `policies.packs`), shared with the offline
`aienv check`. The Pulumi CLI runs this file from a fresh virtualenv holding requirements.txt, with the
pack folder as working directory, so the repository root (two levels up) is put on `sys.path` first:
the pack always runs the rules of the checkout it sits in, with no extra install step.
"""

import sys
from pathlib import Path

_ROOT = Path(__file__).resolve().parents[2]
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

from pulumi_policy import PolicyPack  # noqa: E402

from policies.packs import pack_kwargs  # noqa: E402

PolicyPack(**pack_kwargs("aienv-deploy"))
