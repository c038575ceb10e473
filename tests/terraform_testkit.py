"""Runs the OpenTofu that scripts/terraform/build.sh built (tests/terraform)."""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Tofu:
    """Runs the built tofu with the mirror-only CLI configuration, never interactively."""

    binary: Path
    cliconfig: Path

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            {
                "TF_CLI_CONFIG_FILE": str(self.cliconfig),
                "TF_IN_AUTOMATION": "1",
                "TF_INPUT": "0",
                "CHECKPOINT_DISABLE": "1",
            }
        )
        env.pop("TF_PLUGIN_CACHE_DIR", None)
        return env

    def run(
        self, cwd: Path, *args: str, check: bool = True, timeout: float = 300
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [str(self.binary), *args, "-no-color"]
            if args[0] != "fmt"
            else [str(self.binary), *args],
            cwd=cwd,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"tofu {' '.join(args)} in {cwd} exited {result.returncode}:\n"
                f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
            )
        return result

    def init(self, cwd: Path, *extra: str) -> None:
        self.run(cwd, "init", "-backend=false", "-input=false", *extra)

    def output(self, cwd: Path, state: Path) -> dict[str, object]:
        out = self.run(cwd, "output", "-json", f"-state={state}").stdout
        return {k: v["value"] for k, v in json.loads(out).items()}
