"""A legitimate install step: says what its build cache ($HOME/.cache) holds, then installs a package
from PyPI and one from npm (npm keeps its cache there: previewd sets npm_config_cache)."""

import os
import subprocess

cache = os.path.join(os.environ["HOME"], ".cache")
print("cache holds:", sorted(os.listdir(cache)), flush=True)
for argv in (
    ["python3", "-m", "pip", "install", "--no-input", "--target", "./vendor", "six"],
    ["npm", "install", "--no-audit", "--no-fund", "is-number"],
):
    subprocess.run(argv, check=True)
