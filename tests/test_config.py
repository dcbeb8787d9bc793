"""Configuration errors name the variable; defaults need no credentials."""
from __future__ import annotations

import pytest

from bridge.config import ConfigError, load_settings


def test_defaults_need_nothing():
    s = load_settings(environ={}, env_file=None)
    assert (s.host, s.port, s.db_path) == ("127.0.0.1", 8000, "data/bridge.db")
    assert s.public_url == "http://127.0.0.1:8000" and not s.esms_configured and s.esms_sms_type == 2


def test_every_bad_value_is_reported_at_once():
    with pytest.raises(ConfigError) as exc:
        load_settings(environ={"PORT": "eighty", "ESMS_SMS_TYPE": "5", "ESMS_SANDBOX": "perhaps",
                               "ESMS_BASE_URL": "rest.esms.vn"}, env_file=None)
    text = str(exc.value)
    for var in ("PORT='eighty'", "ESMS_SMS_TYPE='5'", "ESMS_SANDBOX='perhaps'", "ESMS_BASE_URL='rest.esms.vn'"):
        assert var in text


def test_env_file_is_read_and_environment_wins(tmp_path):
    f = tmp_path / ".env"
    f.write_text("ESMS_API_KEY=from-file\nOWNER_PHONES=0901 234 567, 0912345678\nPORT=9000\n")
    s = load_settings(environ={"PORT": "9100"}, env_file=f)
    assert s.esms_api_key == "from-file" and s.port == 9100
    assert s.owner_phones == ("0901 234 567", "0912345678")
    assert s.public_url == "http://127.0.0.1:9100"


def test_channel_adapters_can_be_replaced():
    s = load_settings(environ={"CHANNEL_ADAPTERS": "esms=bridge.providers.dryrun.channel:DryRunChannel"}, env_file=None)
    assert s.channel_adapters["esms"] == "bridge.providers.dryrun.channel:DryRunChannel"
    with pytest.raises(ConfigError, match="CHANNEL_ADAPTERS"):
        load_settings(environ={"CHANNEL_ADAPTERS": "esms"}, env_file=None)
