"""Provision what the integration tests need beyond the project's venv, once, cached between runs.

- :func:`label_studio` : a virtual environment with the ``label-studio`` server, outside the repository
  (``$POLYSEG_CI_CACHE`` or ``~/.cache/polyseg-ci``; its pins clash with ours, e.g. numpy and OpenCV).
- :func:`chromium` : Debian's ``chromium`` and ``chromium-driver`` (apt-get, as root) for the page test.

Test fixtures call these; they raise :class:`ProvisionError` with the reason when a prerequisite cannot be had,
and the fixtures turn that into a failure, never a skip (set ``POLYSEG_SKIP_INTEGRATION=1`` to skip knowingly).
``python tests/provision.py`` provisions both ahead of time.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

LABEL_STUDIO_VERSION = "1.23.2"
CACHE = Path(os.environ.get("POLYSEG_CI_CACHE", Path.home() / ".cache" / "polyseg-ci"))
CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")


class ProvisionError(RuntimeError):
    """A prerequisite of the integration tests could not be provisioned."""


def _run(cmd: list[str], timeout: float, what: str) -> None:
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ProvisionError(f"{what}: {exc}") from None
    if done.returncode != 0:
        tail = (done.stdout + done.stderr).strip().splitlines()[-5:]
        raise ProvisionError(f"{what} failed ({done.returncode}): " + " | ".join(tail))


def label_studio(version: str = LABEL_STUDIO_VERSION) -> Path:
    """The ``label-studio`` executable of a cached venv with that version, created if missing (~1.5 min)."""
    venv = CACHE / f"label-studio-{version}-venv"
    exe = venv / "bin" / "label-studio"
    marker = venv / ".complete"
    if marker.exists() and exe.exists():
        return exe
    shutil.rmtree(venv, ignore_errors=True)
    venv.parent.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    _run([sys.executable, "-m", "venv", str(venv)], 120, "creating the Label Studio venv")
    _run([str(venv / "bin" / "pip"), "install", "-q", f"label-studio=={version}"], 1200,
         f"pip install label-studio=={version}")
    if not exe.exists():
        raise ProvisionError(f"label-studio {version} installed no {exe}")
    marker.write_text(f"{time.monotonic() - start:.0f} s\n")
    return exe


def chromium() -> tuple[Path, Path]:
    """``/usr/bin/chromium`` and ``/usr/bin/chromedriver``, installed with apt-get if missing (needs root)."""
    if CHROMIUM.exists() and CHROMEDRIVER.exists():
        return CHROMIUM, CHROMEDRIVER
    if os.geteuid() != 0:
        raise ProvisionError("Debian's chromium and chromium-driver are missing: apt-get install chromium chromium-driver")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", "chromium", "chromium-driver"]):
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=900, env=env, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ProvisionError(f"{' '.join(cmd)}: {exc}") from None
        if done.returncode != 0:
            raise ProvisionError(f"{' '.join(cmd)} failed: {done.stderr.strip().splitlines()[-1:]}")
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        raise ProvisionError("apt-get installed chromium but /usr/bin/chromium or /usr/bin/chromedriver is missing")
    return CHROMIUM, CHROMEDRIVER


if __name__ == "__main__":
    print("label-studio:", label_studio())
    print("chromium:", *chromium())
