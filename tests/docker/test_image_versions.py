"""The image holds exactly what docker/requirements.lock pins (`pytest -m docker`).

The lock is what a deployment installs (docs/versions.md); this builds the image from
docker/Dockerfile (from Docker's cache after test_compose_engine.py's build) and reads every
installed distribution's version inside it, and its Python's.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name
from test_compose_engine import IMAGE, _sh, compose_cmd, images  # noqa: F401 - fixtures

LOCK = Path(__file__).resolve().parents[2] / "docker" / "requirements.lock"

pytestmark = [pytest.mark.docker, pytest.mark.timeout(1800)]

_READ = ("import json, platform; from importlib import metadata; "
         "print(json.dumps({'python': platform.python_version(), 'dists': "
         "{d.metadata['Name']: d.version for d in metadata.distributions()}}))")


def test_the_image_holds_the_locks_versions(images):  # noqa: F811 - the fixture, by name
    pins: dict[str, str] = {}
    for line in LOCK.read_text().splitlines():
        if m := re.fullmatch(r"#\s*python==(\S+).*", line.strip()):
            pins["python"] = m[1]
        elif line.strip() and not line.startswith("#"):
            name, _, version = line.strip().partition("==")
            pins[canonicalize_name(name)] = version
    done = _sh(["docker", "run", "--rm", "--entrypoint", "python", IMAGE, "-c", _READ],
               timeout=120)
    found = json.loads(done.stdout.strip().splitlines()[-1])
    installed = {canonicalize_name(n): v for n, v in found["dists"].items()}
    installed["python"] = found["python"]
    wrong = {name: (pinned, installed.get(name)) for name, pinned in pins.items()
             if installed.get(name) != pinned}
    assert not wrong, f"image {IMAGE} differs from {LOCK.name} (pinned, installed): {wrong}"
    assert installed["hpsearch"]  # and the project itself is installed
