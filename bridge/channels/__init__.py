"""Outbound channels: one adapter per provider, looked up by name from configuration."""
