"""GET /metrics: Prometheus text format. Business counts, not secrets; still, keep it on the
loopback or behind the proxy (deploy/nginx allows it from localhost only)."""
from __future__ import annotations

from flask import Blueprint, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import CollectorRegistry

from ..metrics import BridgeCollector
from . import bridge

bp = Blueprint("metrics", __name__)


@bp.get("/metrics")
def metrics():
    registry = CollectorRegistry(auto_describe=False)
    registry.register(BridgeCollector(bridge()))
    return Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
