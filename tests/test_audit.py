"""scripts/audit-deps, the dependency audit `make test` runs: a known vulnerability fails the run,
an unreachable advisory database skips it with the reason, and the audit is bounded in time.
pip-audit is an external program here: a stand-in script plays its three possible answers."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

STAND_IN = r'''
import json, os, sys, time
mode = os.environ["FAKE_AUDIT"]
service = sys.argv[sys.argv.index("--vulnerability-service") + 1]
if mode == "slow":
    time.sleep(30)
if mode == "offline" or (mode == "pypi-empty" and service == "osv"):
    print("requests.exceptions.ConnectionError: HTTPSConnectionPool(host='api.osv.dev', port=443): "
          "Max retries exceeded (NameResolutionError)", file=sys.stderr)
    sys.exit(1)
if mode == "pypi-empty":
    print(json.dumps({"dependencies": [{"name": "flask", "version": "3.1.3", "skip_reason":
                                        "Dependency not found on PyPI and could not be audited"}]}))
    sys.exit(0)
deps = [{"name": "flask", "version": "3.1.3", "vulns": []}]
if mode == "vulnerable":
    deps.append({"name": "jinja2", "version": "3.1.2", "vulns": [{"id": "GHSA-h5c8-rqwp-cp95",
                                                                  "fix_versions": ["3.1.3"]}]})
print(json.dumps({"dependencies": deps}))
sys.exit(1 if mode == "vulnerable" else 0)
'''


def run_audit(tmp_path: Path, mode: str, timeout: str = "20") -> subprocess.CompletedProcess:
    fake = tmp_path / "fake_pip_audit.py"
    fake.write_text(STAND_IN)
    env = {**os.environ, "FAKE_AUDIT": mode, "PIP_AUDIT": f"{sys.executable} {fake}", "AUDIT_TIMEOUT": timeout}
    return subprocess.run([sys.executable, str(ROOT / "scripts" / "audit-deps")], env=env, capture_output=True,
                          text=True, timeout=120)


def test_a_known_vulnerability_fails_the_run_and_is_named(tmp_path):
    r = run_audit(tmp_path, "vulnerable")
    assert r.returncode == 1 and "jinja2 3.1.2: GHSA-h5c8-rqwp-cp95 (fixed in 3.1.3)" in r.stdout


def test_a_clean_environment_passes(tmp_path):
    r = run_audit(tmp_path, "clean")
    assert r.returncode == 0 and "1 packages audited, no known vulnerability" in r.stdout


@pytest.mark.parametrize("mode", ["offline", "pypi-empty"])
def test_no_reachable_database_skips_with_the_reason(tmp_path, mode):
    r = run_audit(tmp_path, mode)
    assert r.returncode == 0 and "dependency audit SKIPPED" in r.stdout and "NameResolutionError" in r.stdout
    if mode == "pypi-empty":   # "no known vulnerabilities" from a database that answered nothing is not a pass
        assert "none of 1 packages could be audited" in r.stdout


def test_the_audit_is_bounded_in_time(tmp_path):
    r = run_audit(tmp_path, "slow", timeout="1")
    assert r.returncode == 0 and "no answer within 1 s" in r.stdout
