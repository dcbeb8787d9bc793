"""The shop's phones (SMSGate devices): which one may send now, and which are resting.

Carriers block SIMs that send too fast, so every send through a phone reserves a slot in that
device's budget: a random gap after each send, a cap per minute and per hour. The budget lives
in SQLite, so a restart does not reset it, and the choice among devices is round-robin over
the healthy ones. A device that keeps failing is paused with the reason and its messages go
to the others until a cool-down ends or an admin resumes it.
"""
from __future__ import annotations

import random
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ...config import Settings
from ...store.db import Database, now
from ...store import devices as store


class DeviceConfigError(ValueError):
    pass


@dataclass(frozen=True)
class Device:
    name: str
    url: str                   # cloud/private server base (…/3rdparty/v1) or the phone (http://ip:8080)
    mode: str = "cloud"        # "cloud" (cloud or private server) | "local" (the phone's own server)
    user: str = ""
    password: str = ""
    device_id: str = ""
    sim: int | None = None
    per_minute: int = 6
    per_hour: int = 60
    gap_min: float = 10.0
    gap_max: float = 25.0


@dataclass(frozen=True)
class Reservation:
    device: Device | None
    wait_until: float | None = None   # when no device is free: the earliest time one will be
    why: str = ""


def _device_from(raw: dict[str, Any], settings: Settings, where: str) -> Device:
    if not isinstance(raw, dict):
        raise DeviceConfigError(f"{where}: must be a mapping")
    allowed = {"name", "url", "mode", "user", "password", "device_id", "sim", "per_minute", "per_hour",
               "gap_min", "gap_max"}
    unknown = set(raw) - allowed
    if unknown:
        raise DeviceConfigError(f"{where}: unknown field {sorted(unknown)[0]!r}")
    name, url = raw.get("name"), raw.get("url")
    if not isinstance(name, str) or not name:
        raise DeviceConfigError(f"{where}: field 'name' is required")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise DeviceConfigError(f"{where}: device {name!r}: field 'url' must start with http:// or https://")
    mode = raw.get("mode", "cloud")
    if mode not in ("cloud", "local"):
        raise DeviceConfigError(f"{where}: device {name!r}: field 'mode' must be cloud or local")
    try:
        d = Device(
            name=name, url=url.rstrip("/"), mode=mode, user=str(raw.get("user", settings.smsgate_user)),
            password=str(raw.get("password", settings.smsgate_password)), device_id=str(raw.get("device_id", "")),
            sim=int(raw["sim"]) if raw.get("sim") not in (None, "") else None,
            per_minute=int(raw.get("per_minute", settings.smsgate_per_minute)),
            per_hour=int(raw.get("per_hour", settings.smsgate_per_hour)),
            gap_min=float(raw.get("gap_min", settings.smsgate_gap_min)),
            gap_max=float(raw.get("gap_max", settings.smsgate_gap_max)),
        )
    except (TypeError, ValueError) as exc:
        raise DeviceConfigError(f"{where}: device {name!r}: {exc}") from exc
    if d.per_minute < 1 or d.per_hour < 1 or d.gap_min < 0 or d.gap_max < d.gap_min:
        raise DeviceConfigError(f"{where}: device {name!r}: limits must be positive and gap_min <= gap_max")
    return d


def load_devices(settings: Settings) -> list[Device]:
    """Devices from the YAML file (SMSGATE_DEVICES), else one device from SMSGATE_URL."""
    path = Path(settings.smsgate_devices) if settings.smsgate_devices else Path(settings.mappings_dir) / "devices.yaml"
    if path.is_file():
        try:
            doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise DeviceConfigError(f"{path}: not valid YAML: {exc}") from exc
        items = doc.get("devices") if isinstance(doc, dict) else None
        if not isinstance(items, list):
            raise DeviceConfigError(f"{path}: expected a top-level 'devices:' list")
        devices = [_device_from(raw, settings, f"{path}: device #{i + 1}") for i, raw in enumerate(items)]
        names = [d.name for d in devices]
        if len(set(names)) != len(names):
            raise DeviceConfigError(f"{path}: device names must be unique")
        return devices
    if settings.smsgate_devices:
        raise DeviceConfigError(f"SMSGATE_DEVICES: file {str(path)!r} does not exist")
    if settings.smsgate_url:
        return [_device_from({"name": "phone-1", "url": settings.smsgate_url, "mode": settings.smsgate_mode,
                              "device_id": settings.smsgate_device_id, "sim": settings.smsgate_sim},
                             settings, "SMSGATE_URL")]
    return []


class DeviceBudget:
    """Persisted pacing and health for the devices (bridge/store/devices.py keeps them)."""

    def __init__(self, db: Database, devices: list[Device], pause_after: int, cooldown: float):
        self.db = db
        self.devices = {d.name: d for d in devices}
        self.pause_after = pause_after
        self.cooldown = cooldown
        store.ensure(db, self.devices)

    def _free_at(self, c: sqlite3.Connection, d: Device, state: sqlite3.Row, t: float) -> float:
        at = max(t, state["next_at"] or 0)
        for window, cap in ((60.0, d.per_minute), (3600.0, d.per_hour)):
            if store.nth_latest_send_since(c, d.name, t - window, cap) is not None:
                # `cap` sends inside the window: free when the oldest of them leaves it
                at = max(at, store.oldest_send_since(c, d.name, t - window) + window)
        return at

    def reserve(self, exclude: tuple[str, ...] = (), only: str | None = None) -> Reservation:
        """Take a send slot on the device that is free soonest (round-robin among equals), or on
        `only`: the phone an earlier attempt of this message may have reached, which alone can
        tell a retry from a second SMS (its idempotency is per device)."""
        if not self.devices:
            return Reservation(None, None, "no SMSGate device configured")
        with self.db.tx() as c:
            # read once the write lock is held: a lane that waited for it while another took a slot
            # must see that slot as past, not as a device busy until after its own stale "now"
            t = now()
            best: tuple[float, float, Device] | None = None
            paused = []
            for d in self.devices.values():
                if d.name in exclude or (only is not None and d.name != only):
                    continue
                st = store.state(c, d.name)
                if st["paused_until"] and st["paused_until"] > t:
                    paused.append(f"{d.name} paused ({st['pause_reason']})")
                    continue
                free = self._free_at(c, d, st, t)
                key = (free, st["last_used_at"] or 0, d)
                if best is None or key[:2] < best[:2]:
                    best = key
            if best is None:
                return Reservation(None, store.soonest_resume(c, t), "; ".join(paused) or "no device available")
            free, _, d = best
            if free > t:
                return Reservation(None, free, f"phone send budget: next slot on {d.name}")
            store.record_send(c, d.name, t, t + random.uniform(d.gap_min, d.gap_max))
            return Reservation(d)

    def outcome(self, name: str, ok: bool, detail: str = "") -> None:
        """Count consecutive failures; pause the device after `pause_after` of them."""
        if ok:
            store.record_success(self.db, name)
        else:
            store.record_failure(self.db, name, self.pause_after, self.cooldown, detail)

    def resume(self, name: str) -> bool:
        """Admin action: put a paused device back into rotation now."""
        return store.resume(self.db, name)

    def status(self) -> list[dict[str, Any]]:
        t = now()
        out = []
        for d in self.devices.values():
            st = store.state(self.db, d.name)
            out.append({"name": d.name, "mode": d.mode, "paused": bool(st and st["paused_until"] > t),
                        "pause_reason": st["pause_reason"] if st else "",
                        "paused_until": st["paused_until"] if st else 0,
                        "sent_last_hour": store.sends_since(self.db, d.name, t - 3600), "per_hour": d.per_hour})
        return out
