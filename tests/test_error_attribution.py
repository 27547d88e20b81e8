"""A failure deep inside the program names the component and the spec field that led there (exit 2, no
traceback, no partial export)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pulumi_aws as aws
import pulumi_kubernetes as k8s
import pytest

from aienv.cli import main


def test_failure_in_one_endpoint_names_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    real = k8s.apps.v1.DeploymentSpecArgs.__init__

    def reject_summarize(self: Any, *args: Any, **kwargs: Any) -> None:
        labels = kwargs["selector"].match_labels
        if labels.get("aienv.io/endpoint") == "summarize":
            raise TypeError("DeploymentSpecArgs.__init__() got an unexpected keyword argument 'replica'")
        real(self, *args, **kwargs)

    monkeypatch.setattr(k8s.apps.v1.DeploymentSpecArgs, "__init__", reject_summarize)
    export = tmp_path / "plan.json"
    assert main(["plan", "prod-aws", "--export", str(export)]) == 2
    err = capsys.readouterr().err
    assert "model_endpoints[1]" in err and "prod-aws-k8s-summarize" in err and "'replica'" in err
    assert "Traceback" not in err
    assert not export.exists()


def test_failure_in_one_gpu_pool_names_it(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    real = aws.eks.NodeGroupArgs.__init__

    def reject_a100(self: Any, *args: Any, **kwargs: Any) -> None:
        if kwargs.get("labels", {}).get("aienv.io/pool") == "a100":
            raise ValueError("instance type p4de.24xlarge is not available")
        real(self, *args, **kwargs)

    monkeypatch.setattr(aws.eks.NodeGroupArgs, "__init__", reject_a100)
    assert main(["plan", "prod-aws", "--json"]) == 2
    err = capsys.readouterr().err
    assert "cluster.gpu_pools[1]" in err and "aienv:aws:Cluster" in err and "p4de.24xlarge" in err
