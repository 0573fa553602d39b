"""The versions a driver and the cluster it drives must agree on, compared when they meet.

A unit test cannot promise that a cluster runs what the driver runs: the cluster was installed on
another day, from another index. So ``hpsearch submit`` and ``hpsearch run --address`` read the
cluster's versions at run time (``PROBE_CODE`` run by the cluster's own Python) and refuse, in one
line naming both sides, a difference that matters:

* **hpsearch**, exactly: trial tasks, their results and the pruning channel's messages are pickled
  hpsearch objects, and the study attributes one version writes are what the other reads.
* **Ray**, exactly: Ray refuses a driver of another version (its own messages are pickled too).
* **Optuna**, to the minor release: the driver writes the storage that readers anywhere open with
  their own Optuna (its RDB schema and trial records), and the sampler and pruner run on the
  driver's side with the cluster's behaviour expected.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

__all__ = ["PACKAGES", "PROBE_CODE", "PROBE_PREFIX", "VersionMismatch", "check_versions",
           "local_versions", "parse_probe"]

#: What is compared, and how many leading parts of each version must be equal.
_MUST_MATCH: dict[str, int] = {"hpsearch": 3, "ray": 3, "optuna": 2}
PACKAGES = tuple(_MUST_MATCH)
#: The line the probe prints, before its JSON.
PROBE_PREFIX = "hpsearch-versions "
#: Python run by the cluster's interpreter: prints ``PROBE_PREFIX`` and a JSON object of the
#: interpreter, Python's version and each package's version (None where it is not installed).
#: Standard library only: it must run where hpsearch is missing.
PROBE_CODE = (
    "import json, sys, platform\n"
    "from importlib import metadata\n"
    "def v(name):\n"
    "    try:\n"
    "        return metadata.version(name)\n"
    "    except metadata.PackageNotFoundError:\n"
    "        return None\n"
    f"out = {{n: v(n) for n in {list(PACKAGES)!r}}}\n"
    "out['python'] = platform.python_version()\n"
    "out['executable'] = sys.executable\n"
    f"print({PROBE_PREFIX!r} + json.dumps(out), flush=True)\n"
)


class VersionMismatch(RuntimeError):
    """The cluster lacks hpsearch or runs versions this driver cannot work with."""


def local_versions() -> dict[str, str | None]:
    """This process's versions of ``PACKAGES`` (from package metadata; nothing is imported)."""
    from importlib import metadata

    out: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def parse_probe(text: str) -> dict[str, str | None] | None:
    """The versions in the last ``PROBE_PREFIX`` line of ``text`` (a probe's output), or None."""
    for line in reversed(text.splitlines()):
        if line.startswith(PROBE_PREFIX):
            try:
                found = json.loads(line[len(PROBE_PREFIX):])
            except ValueError:
                return None
            return found if isinstance(found, dict) else None
    return None


def _prefix(version: str, parts: int) -> tuple[str, ...]:
    return tuple(version.split("+", 1)[0].split(".")[:parts])


def _side(versions: Mapping[str, str | None]) -> str:
    return ", ".join(f"{n} {versions.get(n) or '(none)'}" for n in PACKAGES)


def check_versions(local: Mapping[str, str | None], remote: Mapping[str, str | None],
                   where: str) -> None:
    """Refuse what ``remote`` (the cluster's versions, from ``PROBE_CODE``) cannot run with us.

    Args:
        local: this driver's versions (``local_versions()``).
        remote: the cluster's; an ``executable`` key, where present, is named in the message.
        where: the cluster, as the message names it ("the cluster at http://HEAD:8265").

    Raises:
        VersionMismatch: hpsearch is missing there, or a version differs where it matters; one
            line naming both sides' versions and what must match.
    """
    python = f" (Python {remote['executable']})" if remote.get("executable") else ""
    if not remote.get("hpsearch"):
        raise VersionMismatch(
            f"{where} has no hpsearch for the Python that runs Ray there{python}: install "
            f"hpsearch {local.get('hpsearch')} into that environment (the one `ray start` runs "
            "from), or submit to a cluster built from docker/")
    wrong = [name for name, parts in _MUST_MATCH.items()
             if remote.get(name) and local.get(name)
             and _prefix(str(remote[name]), parts) != _prefix(str(local[name]), parts)]
    if wrong:
        rules = "; ".join(f"{n} {'exactly' if _MUST_MATCH[n] == 3 else 'to the minor release'}"
                          for n in wrong)
        raise VersionMismatch(
            f"{where} runs {_side(remote)}{python}, this machine {_side(local)}: they must "
            f"agree on {rules}; install the same versions on both (pip install -c "
            "constraints.txt, docs/versions.md)")
