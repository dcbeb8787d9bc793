"""Dry-run: a channel without credentials records the message and says so; nothing leaves."""
from .. import Provider

PROVIDER = Provider(
    name="dryrun",
    channels={"dry-run": "bridge.providers.dryrun.channel:DryRunChannel"},
    retry_safety={"dry-run": "key"},
)
