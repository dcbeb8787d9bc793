"""Debian programs that some tests drive for real (nginx, logrotate, openssl): found on PATH or in
the sbin directories, else installed with apt-get from inside the test run, else a reason.

`make test` runs scripts/ensure-debian-packages before pytest; this does the same for a test file
run on its own. On CI (CI set) a program that cannot be had fails the test; elsewhere it skips and
says why."""
from __future__ import annotations

import os
import shutil
import subprocess

import pytest

SBIN = ("/usr/local/sbin", "/usr/sbin", "/sbin")
APT_OPTIONS = ("-y", "-q", "--no-install-recommends", "-o", "DPkg::Lock::Timeout=120")


def program_path(program: str) -> str | None:
    found = shutil.which(program)
    if found:
        return found
    return next((p for p in (os.path.join(d, program) for d in SBIN) if os.access(p, os.X_OK)), None)


def _root_prefix() -> list[str] | None:
    """[] as root, ["sudo", "-n"] with passwordless sudo, None when packages cannot be installed."""
    if os.geteuid() == 0:
        return []
    if shutil.which("sudo") and subprocess.run(["sudo", "-n", "true"], capture_output=True).returncode == 0:
        return ["sudo", "-n"]
    return None


def _apt_get(prefix: list[str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*prefix, "apt-get", *args], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})


def ensure_packages(*names: str) -> str | None:
    """Each name is `program`, `program=package` or `program=package|alternative` (the first that
    installs wins, e.g. `nginx=nginx-light|nginx`: not every release has nginx-light). Installs what is
    missing (`apt-get update` once when an install fails). None when every program is there,
    else the reason."""
    wanted: dict[str, list[str]] = {}
    for name in names:
        program, _, packages = name.partition("=")
        if program_path(program) is None:
            wanted[program] = (packages or program).split("|")
    if not wanted:
        return None
    missing = ", ".join(wanted)
    if shutil.which("apt-get") is None:
        return f"{missing} missing, and no apt-get here to install it"
    prefix = _root_prefix()
    if prefix is None:
        return f"{missing} missing; installing needs root or passwordless sudo (apt-get install {missing})"
    errors: list[str] = []

    def install(program: str, packages: list[str]) -> bool:
        for package in packages:
            r = _apt_get(prefix, "install", *APT_OPTIONS, package)
            if r.returncode == 0 and program_path(program):
                return True
            errors.append(f"apt-get install {package}: {(r.stderr or r.stdout).strip()[-300:]}")
        return False

    updated = False
    for program, packages in wanted.items():
        if install(program, packages) or updated:
            continue
        updated = True     # the package lists may be missing or stale (a fresh container): once
        r = _apt_get(prefix, "update", "-q")
        if r.returncode != 0:
            errors.append(f"apt-get update: {(r.stderr or r.stdout).strip()[-300:]}")
        else:
            install(program, packages)
    still = [p for p in wanted if program_path(p) is None]
    if not still:
        return None
    return f"{', '.join(still)} missing and could not be installed: " + "; ".join(errors)


def require(name: str) -> str:
    """The path of the program `name` names (as in ensure_packages), installing it if need be;
    the test skips (fails on CI) when it cannot be had."""
    reason = ensure_packages(name)
    if reason is not None:
        unavailable(reason)
    path = program_path(name.partition("=")[0])
    assert path is not None
    return path


def unavailable(reason: str) -> None:
    """Skip the test with the reason, or fail it on CI, where everything must run."""
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)
