"""Outgoing events (issue 18) as the owner manages them: the URLs that receive them and the events
each wants, every delivery with its answers, a replay, a test event.

An endpoint's signing secret is shown once, on the page the creation (or a new secret) redirects
to: the redirect carries a one-time token (never the secret, never the session cookie), taken on
that first view, so a reload neither shows it again nor makes a second secret. A lost secret is
replaced, not shown again, so the page never needs a second sign-in to protect it."""
from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from ... import outgoing, reasons
from ...outbox import Refused
from ...reasons import N_
from ...store import hooks as store
from .. import bridge
from . import bp

RECENT = 50   # deliveries listed per endpoint
# What each event is, for the owner (the identifiers stay as the receiver sees them)
EVENT_LABELS = {
    outgoing.STATUS_CHANGED: N_("A message changed status (sent, delivered, failed…)"),
    outgoing.RECEIVED: N_("An SMS or Messenger message was received"),
    outgoing.PAYMENT_CONFIRMED: N_("A payment was confirmed"),
    outgoing.PAYMENT_REVIEW: N_("A payment needs a person to look at it"),
    outgoing.COD_ANSWERED: N_("A customer answered the COD confirmation"),
    outgoing.TEST: N_("Test event"),
}


def _events_chosen() -> list[str]:
    return [e for e in request.form.getlist("events") if e]


def _page(status: int = 200, **extra: Any) -> tuple[str, int]:
    return render_template("admin/hooks.html", endpoints=store.endpoints(bridge().db), events=outgoing.EVENTS,
                           labels=EVENT_LABELS, **extra), status


def _refused(exc: Refused) -> None:
    flash(reasons.render(str(exc), _), "error")


@bp.get("/hooks")
def hooks() -> Any:
    return _page()


@bp.post("/hooks")
def hook_add() -> Any:
    url = request.form.get("url", "")
    try:
        endpoint_id, secret = outgoing.add_endpoint(bridge().db, url, _events_chosen())
    except Refused as exc:
        _refused(exc)
        return _page(400, url=url, chosen=_events_chosen())
    return _shown_once(endpoint_id, secret)


def _shown_once(endpoint_id: int, secret: str) -> Response:
    token = outgoing.stash_secret(bridge().db, endpoint_id, secret)
    return redirect(url_for("admin.hook", endpoint_id=endpoint_id, shown=token), 303)


def _endpoint_page(endpoint_id: int, **extra: Any) -> Any:
    db = bridge().db
    ep = store.endpoint(db, endpoint_id)
    if ep is None:
        abort(404)
    return render_template("admin/hook.html", h=ep, wanted=(ep["events"] or "").split(","),
                           deliveries=store.recent(db, endpoint_id, RECENT), events=outgoing.EVENTS,
                           labels=EVENT_LABELS, **extra)


@bp.get("/hooks/<int:endpoint_id>")
def hook(endpoint_id: int) -> Any:
    token = request.args.get("shown", "")
    secret = outgoing.take_secret(bridge().db, endpoint_id, token) if token else None
    if token and secret is None:
        flash(_("The signing secret is shown only once: make a new one below if it was lost."), "error")
    return _endpoint_page(endpoint_id, new_secret=secret)


def _act(endpoint_id: int, action: Any, done: str) -> Response:
    try:
        action()
    except Refused as exc:
        _refused(exc)
    else:
        flash(done, "ok")
    return redirect(url_for("admin.hook", endpoint_id=endpoint_id))


@bp.post("/hooks/<int:endpoint_id>/events")
def hook_events(endpoint_id: int) -> Response:
    return _act(endpoint_id, lambda: outgoing.set_events(bridge().db, endpoint_id, _events_chosen()),
                _("Saved: the endpoint gets these events from now on."))


@bp.post("/hooks/<int:endpoint_id>/enabled")
def hook_enabled(endpoint_id: int) -> Response:
    on = request.form.get("enabled") == "1"
    return _act(endpoint_id, lambda: outgoing.set_enabled(bridge().db, endpoint_id, on),
                _("Enabled: new events go to this URL.") if on else
                _("Disabled: no new events go to this URL; deliveries already queued stop with “disabled”."))


@bp.post("/hooks/<int:endpoint_id>/test")
def hook_test(endpoint_id: int) -> Response:
    def send() -> None:
        outgoing.send_test(bridge().db, endpoint_id)
        bridge().wake_worker()
    return _act(endpoint_id, send, _("Test event queued: its delivery appears below in a few seconds."))


@bp.post("/hooks/<int:endpoint_id>/secret")
def hook_secret(endpoint_id: int) -> Any:
    try:
        secret = outgoing.rotate_secret(bridge().db, endpoint_id)
    except Refused as exc:
        _refused(exc)
        return redirect(url_for("admin.hooks"))
    return _shown_once(endpoint_id, secret)


@bp.post("/hooks/<int:endpoint_id>/replay-failed")
def hook_replay_failed(endpoint_id: int) -> Response:
    def replay() -> None:
        n = outgoing.replay_failed(bridge().db, endpoint_id)
        bridge().wake_worker()
        flash(_("%(n)s failed deliveries queued again, in their order.", n=n), "ok")
    try:
        replay()
    except Refused as exc:
        _refused(exc)
    return redirect(url_for("admin.hook", endpoint_id=endpoint_id))


@bp.post("/hooks/<int:endpoint_id>/delete")
def hook_delete(endpoint_id: int) -> Response:
    if request.form.get("confirm") != "1":
        flash(_("Tick the box to confirm the deletion."), "error")
        return redirect(url_for("admin.hook", endpoint_id=endpoint_id))
    try:
        outgoing.delete_endpoint(bridge().db, endpoint_id)
    except Refused as exc:
        _refused(exc)
    else:
        flash(_("Endpoint deleted."), "ok")
    return redirect(url_for("admin.hooks"))


@bp.post("/hooks/<int:endpoint_id>/deliveries/<int:delivery_id>/replay")
def hook_replay(endpoint_id: int, delivery_id: int) -> Response:
    d = store.delivery(bridge().db, delivery_id)
    if d is None or d["endpoint_id"] != endpoint_id:
        abort(404)

    def replay() -> None:
        outgoing.replay(bridge().db, delivery_id)
        bridge().wake_worker()
    return _act(endpoint_id, replay, _("Sent again with the same event id (the receiver can drop it if it has it)."))
