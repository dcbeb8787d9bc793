"""The README and .env.example document every environment variable the service reads."""
from __future__ import annotations

from bridge.config import ENV
from tests.conftest import ROOT


def test_every_variable_is_documented():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    example = (ROOT / ".env.example").read_text(encoding="utf-8")
    missing_readme = [v for v in ENV if f"`{v}`" not in readme]
    missing_example = [v for v in ENV if f"{v}=" not in example]
    assert not missing_readme, f"README lacks {missing_readme}"
    assert not missing_example, f".env.example lacks {missing_example}"
