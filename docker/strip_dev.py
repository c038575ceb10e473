"""Print the development-only packages of pyproject.toml, one per line (for pip uninstall).

The images install every pin of constraints.txt with its hash (pip's hash-checking mode
takes no subset), build the wheel with setuptools, then drop what only development needs:
the `dev` extra's packages (pytest, ruff, mypy, setuptools, ...).
"""

import re
import sys
import tomllib

with open(sys.argv[1], "rb") as f:
    project = tomllib.load(f)["project"]
for requirement in project.get("optional-dependencies", {}).get("dev", []):
    print(re.split(r"[\[=<>!~ ;]", requirement, maxsplit=1)[0])
