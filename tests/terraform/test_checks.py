"""`tofu fmt -check`, `tofu validate` and `tofu test` over terraform/.

The layers that use only the helm and kubectl providers (terraform/platform, modules/nats,
modules/monitoring) are initialised from the local mirror, validated, and their
`tofu test` files (mock_provider, assertions on planned values) run. The AWS roots cannot be
initialised here (no AWS provider can be built from the Go module proxy: see
scripts/terraform/build.sh and docs/deployment.md), so they get the checks that need no
provider: formatting, and `tofu get` + `tofu providers`, which parse every file of the root
and its modules and resolve every module source.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from terraform_testkit import ROOT, Tofu

PROVIDER_LAYERS = ["terraform/platform", "terraform/modules/nats", "terraform/modules/monitoring"]
AWS_ROOTS = ["terraform/envs/staging", "terraform/envs/production"]


def test_every_file_is_formatted(tofu: Tofu) -> None:
    result = tofu.run(ROOT, "fmt", "-check", "-recursive", "-diff", "terraform", check=False)
    assert result.returncode == 0, (
        f"not formatted (run `tofu fmt -recursive terraform`):\n{result.stdout}"
    )


def test_fmt_check_catches_a_misformatted_file(tofu: Tofu, tmp_path: Path) -> None:
    (tmp_path / "main.tf").write_text('variable "x" {\ntype=string\n}\n')
    result = tofu.run(tmp_path, "fmt", "-check", "main.tf", check=False)
    assert result.returncode == 3
    assert "main.tf" in result.stdout


@pytest.mark.timeout(600)
@pytest.mark.parametrize("layer", PROVIDER_LAYERS)
def test_layer_validates_and_its_tests_pass(tofu: Tofu, workspace: Path, layer: str) -> None:
    where = workspace / layer
    tofu.init(where)
    validated = tofu.run(where, "validate")
    assert "Success! The configuration is valid." in validated.stdout

    runs = sorted(
        name
        for f in (where / "tests").glob("*.tftest.hcl")
        for name in re.findall(r'^run "([^"]+)"', f.read_text(), re.MULTILINE)
    )
    assert runs, f"{layer} has no tofu test runs"
    tested = tofu.run(where, "test", timeout=540)
    assert f"Success! {len(runs)} passed, 0 failed." in tested.stdout, tested.stdout
    for name in runs:
        assert re.search(rf'run "{re.escape(name)}"\.\.\. pass', tested.stdout), (
            name,
            tested.stdout,
        )


@pytest.mark.parametrize("root", AWS_ROOTS)
def test_aws_root_parses_and_resolves_its_modules(tofu: Tofu, workspace: Path, root: str) -> None:
    """Every file of the root and of each module parses and every module source resolves.

    `tofu providers` needs an initialised backend, and initialising the S3 backend needs
    AWS: the copy drops backend.tf, which is checked on its own below.
    """
    where = workspace / root
    backend = (where / "backend.tf").read_text()
    assert re.search(r'backend "s3" \{', backend)
    assert re.search(r"use_lockfile\s*=\s*true", backend), "state locking must be on"
    assert re.search(r"encrypt\s*=\s*true", backend)
    (where / "backend.tf").unlink()
    tofu.run(where, "get")
    tree = tofu.run(where, "providers").stdout
    assert re.search(r"provider\[[^\]]+/hashicorp/aws\] ~> 6\.0", tree), tree
    modules = ["stack", "vpc", "eks", "database", "redis", "nats", "ingress", "secrets", "backups"]
    for module in [*modules, "monitoring", "ecr", "operator_role", "backup_role"]:
        assert f"module.{module}" in tree, (module, tree)
