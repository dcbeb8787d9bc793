"""Rules in mappings/: mistakes stop the start with the file, rule and field named."""
from __future__ import annotations

import pytest

from bridge.config import load_settings
from bridge.context import sample_contexts
from bridge.rules import RulesError, load_rules
from tests.conftest import ROOT

CHANNELS = ("esms", "messenger", "dry-run")


def load(tmp_path, text: str):
    (tmp_path / "rules.yaml").write_text(text, encoding="utf-8")
    return load_rules(tmp_path, CHANNELS, sample_contexts(load_settings(environ={}, env_file=None)))


def test_shipped_rules_load():
    rs = load_rules(ROOT / "mappings", CHANNELS, sample_contexts(load_settings(environ={}, env_file=None)))
    names = {r.name for r in rs.rules}
    assert {"order-awaiting-transfer", "order-processing", "order-completed", "order-cancelled", "order-refunded",
            "order-failed", "customer-welcome", "owner-new-order"} <= names


@pytest.mark.parametrize("rule, expected", [
    ("- name: a\n  event: order.stats\n  template: x", "rule 'a': field 'event' must be one of"),
    ("- name: a\n  event: order.status\n  template: x", "rule 'a': field 'status' is required"),
    ("- name: a\n  event: order.status\n  status: shipped\n  template: x", "rule 'a': field 'status': unknown 'shipped'"),
    ("- name: a\n  event: order.new\n  to: boss\n  template: x", "rule 'a': field 'to' must be one of"),
    ("- name: a\n  event: order.new\n  channel: pigeon\n  template: x", "rule 'a': field 'channel': unknown 'pigeon'"),
    ("- name: a\n  event: order.new\n  unicode: maybe\n  template: x", "rule 'a': field 'unicode' must be true or false"),
    ("- name: a\n  event: order.new\n  template: 'Don {{ oder_number }}'", "rule 'a': field 'template': 'oder_number' is undefined"),
    ("- name: a\n  event: order.new\n  template: 'Don {{ order_number }'", "rule 'a': field 'template'"),
    ("- name: a\n  event: order.new\n  colour: red\n  template: x", "rule 'a': unknown field 'colour'"),
    ("- event: order.new\n  template: x", "rule #1: field 'name' is required"),
    ("- name: a\n  event: order.new\n  template: x\n- name: a\n  event: order.new\n  template: y", "rule 'a': name already used"),
])
def test_mistakes_name_file_rule_and_field(tmp_path, rule, expected):
    with pytest.raises(RulesError) as exc:
        load(tmp_path, "rules:\n" + "\n".join("  " + line for line in rule.splitlines()) + "\n")
    assert expected in str(exc.value)
    assert "rules.yaml" in str(exc.value)


def test_broken_yaml_names_the_file(tmp_path):
    with pytest.raises(RulesError, match=r"rules.yaml: not valid YAML"):
        load(tmp_path, "rules: [\n")


def test_templates_are_sandboxed(tmp_path):
    with pytest.raises(RulesError, match="field 'template'"):
        load(tmp_path, "rules:\n  - name: a\n    event: order.new\n    template: \"{{ ''.__class__.__mro__ }}\"\n")


def test_service_refuses_to_start_with_a_bad_rule(tmp_path):
    import subprocess
    import sys
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "x.yaml").write_text("rules:\n  - name: a\n    event: order.new\n    template: '{{ nope }}'\n")
    env = {"BRIDGE_DB": str(tmp_path / "b.db"), "MAPPINGS_DIR": str(tmp_path / "m"), "PATH": "/usr/bin:/bin"}
    p = subprocess.run([sys.executable, "-m", "bridge", "check-config"], cwd=ROOT, env=env, capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 2
    assert "x.yaml: rule 'a': field 'template': 'nope' is undefined" in p.stderr
