"""Notification rules: which event sends what text to whom, through which channel.

Shop owners edit `mappings/*.yaml`; a mistake there must stop the service at start with a
message naming the file, the rule and the field, not surface later as a customer who never
got an SMS. So every rule is validated and every template is test-rendered on load.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import yaml
from jinja2 import StrictUndefined, Template, TemplateError, pass_eval_context
from jinja2.filters import do_center, do_format, do_indent, do_join, do_replace
from jinja2.sandbox import SandboxedEnvironment, SandboxedFormatter, SecurityError

from . import providers, reasons
from .reasons import N_

log = logging.getLogger(__name__)

EVENTS = ("order.status", "order.new", "customer.created", "account.password_reset", "payment.confirmed",
          "payment.expired", "order.cod_confirm", "shipment.status")
# A parcel's status in our words (bridge.shipments maps each carrier's onto these), for
# `event: shipment.status` rules' `status`.
SHIPMENT_STATUSES = ("created", "picking", "picked", "in_transit", "delivering", "delivery_failed", "delivered",
                     "returning", "returned", "cancelled", "lost")
AUDIENCES = ("customer", "owner")
ORDER_STATUSES = ("pending", "on-hold", "processing", "completed", "cancelled", "refunded", "failed")
DEFAULT_CHANNEL = providers.default_channel()   # of a rule without `channel:` (the provider that declares it)
RULE_FIELDS = {"name", "event", "status", "to", "channel", "unicode", "urgent", "enabled", "template",
               "payment_methods", "fallback_after", "link", "link_title", "zns"}


class RulesError(ValueError):
    """A mapping file is wrong; the message says where."""


# A rendered message longer than this is refused on save and not sent: 2,000 characters are
# 13 Vietnamese SMS parts, beyond any message a shop means to pay for.
MAX_TEXT = 2000
MAX_LOOP = 1000   # items in one range(): a message never counts further
# Str methods whose integer arguments are output widths: `'a'.center(99999999)` is 100 MB.
_WIDTH_METHODS = {"center", "ljust", "rjust", "zfill", "expandtabs"}
_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?")

reasons.register({
    "rules.override_failed": N_("the text saved in the admin for %(rule)s could not be written for this order "
                                "(%(error)s): the default text was sent instead"),
    "rules.template_failed": N_("template could not be written for this order: %(error)s"),
})


class TextTooLong(TemplateError):
    """The template writes more than MAX_TEXT characters: stopped there, never sent."""


class Written(str):
    """A rule's text as rendered for one message, with `note`: why it is not the text the owner
    expects (a stored reason; "" when it is). An empty Written with a note is a message that
    could not be written: it is recorded as failed with that reason, not sent, and not raised
    into the payment or order transaction that asked for it."""

    note: str

    def __new__(cls, text: str, note: str = "") -> "Written":
        obj = super().__new__(cls, text)
        obj.note = note
        return obj


def _too_long(n: int | float) -> SecurityError:
    return SecurityError(f"the text would be {int(n)} characters long; a message is at most {MAX_TEXT}")


def _check_width(n: Any) -> None:
    if isinstance(n, int) and not isinstance(n, bool) and n > MAX_TEXT:
        raise _too_long(n)


def _check_spec(spec: str) -> None:
    """A format spec's numbers are widths and precisions: any above MAX_TEXT is refused before
    Python allocates the padding."""
    for number in re.findall(r"\d+", spec):
        _check_width(int(number))


def _check_percent(fmt: str) -> None:
    for width, precision in _PERCENT_SPEC.findall(fmt):
        if "*" in (width, precision):
            raise SecurityError("a width taken from an argument (%*s) is not allowed in a message")
        _check_spec(width + " " + precision)


def _bounded_range(*args: int) -> range:
    r = range(*args)
    if len(r) > MAX_LOOP:
        raise SecurityError(f"range() of {len(r)} items; a message template counts to {MAX_LOOP} at most")
    return r


class _BoundedFormatter(SandboxedFormatter):
    def format_field(self, value: Any, format_spec: str) -> Any:
        _check_spec(format_spec)
        return super().format_field(value, format_spec)


class _MessageSandbox(SandboxedEnvironment):
    """Jinja's sandbox keeps templates away from Python's internals; this one also keeps an
    owner's template from writing a 100 MB "message": every operation that multiplies output
    (repeat, pad, format widths, replace, power, range) is checked before it runs."""

    intercepted_binops = frozenset({"*", "%", "**", "+"})

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.globals["range"] = _bounded_range
        for unbounded in ("lipsum", "cycler", "joiner"):   # lipsum(n) writes n paragraphs; no message needs these
            self.globals.pop(unbounded, None)
        self.filters.update(center=_center, format=_format, indent=_indent, replace=_replace, join=_join)

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "*":
            for seq, n in ((left, right), (right, left)):
                if isinstance(seq, (str, list, tuple)) and isinstance(n, int) and len(seq) * n > MAX_TEXT:
                    raise _too_long(len(seq) * n)
        elif operator == "%" and isinstance(left, str):
            _check_percent(left)
        elif operator == "+" and isinstance(left, (str, list, tuple)) and isinstance(right, (str, list, tuple)):
            if len(left) + len(right) > MAX_TEXT:   # doubling a text in a loop
                raise _too_long(len(left) + len(right))
        elif operator == "**" and isinstance(right, (int, float)) and abs(right) > 64:
            raise SecurityError(f"an exponent of {right} is beyond any message")
        return super().call_binop(context, operator, left, right)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        owner = getattr(__obj, "__self__", None)
        if isinstance(owner, str):
            name = getattr(__obj, "__name__", "")
            if name in _WIDTH_METHODS:
                for a in (*args, *kwargs.values()):
                    _check_width(a)
            elif name == "replace" and len(args) >= 2:
                _check_replace(owner, *args[:2])
        return super().call(__context, __obj, *args, **kwargs)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        if super().wrap_str_format(value) is None:   # not a str's format/format_map
            return None
        source, formatter = value.__self__, _BoundedFormatter(self)
        if value.__name__ == "format_map":
            return lambda mapping: formatter.vformat(source, (), mapping)
        return lambda *args, **kwargs: formatter.vformat(source, args, kwargs)


@pass_eval_context
def _join(eval_ctx: Any, value: Any, d: str = "", attribute: Any = None) -> str:
    items = list(value)[:MAX_LOOP + 1]
    if len(items) > MAX_LOOP:
        raise SecurityError(f"join of more than {MAX_LOOP} items; a message template joins {MAX_LOOP} at most")
    size = sum(len(str(i)) for i in items) + len(str(d)) * max(0, len(items) - 1)
    if size > MAX_TEXT:
        raise _too_long(size)
    return do_join(eval_ctx, items, d, attribute)


def _center(value: str, width: int = 80) -> str:
    _check_width(width)
    return do_center(value, width)


def _format(value: str, *args: Any, **kwargs: Any) -> str:
    _check_percent(str(value))
    return do_format(value, *args, **kwargs)


def _indent(s: str, width: int | str = 4, *args: Any, **kwargs: Any) -> str:
    pad = width if isinstance(width, int) else len(width)
    _check_width(pad)
    _check_width(len(str(s)) * (pad + 1))
    return do_indent(s, width, *args, **kwargs)


@pass_eval_context
def _replace(eval_ctx: Any, s: str, old: str, new: str, count: int | None = None) -> str:
    _check_replace(str(s), old, new)
    return do_replace(eval_ctx, s, old, new, count)


def _check_replace(s: str, old: Any, new: Any) -> None:
    if isinstance(old, str) and isinstance(new, str):
        times = s.count(old) if old else len(s) + 1
        _check_width(len(s) + times * (len(new) - len(old)))


def write(template: Template, context: dict[str, Any]) -> str:
    """Render, stopping as soon as the text passes MAX_TEXT characters (a loop writing megabytes
    is cut off at the first chunk over, not run to the end)."""
    parts, n = [], 0
    for chunk in template.generate(**context):
        n += len(chunk)
        if n > MAX_TEXT * 2:   # room for the whitespace strip() removes
            raise TextTooLong(f"the text is over {MAX_TEXT} characters long; a message is at most {MAX_TEXT}")
        parts.append(chunk)
    text = "".join(parts).strip()
    if len(text) > MAX_TEXT:
        raise TextTooLong(f"the text is {len(text)} characters long; a message is at most {MAX_TEXT}")
    return text


def describe(exc: BaseException) -> str:
    """An error a template raised, for the owner: Python's own message names the problem."""
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


@dataclass(frozen=True)
class Rule:
    name: str
    event: str
    template: str
    source: str
    to: str = "customer"
    channels: tuple[str, ...] = (DEFAULT_CHANNEL,)
    statuses: tuple[str, ...] = ()
    payment_methods: tuple[str, ...] = ()
    unicode: bool = True
    urgent: bool = True
    enabled: bool = True
    fallback_after: float | None = None   # seconds without a delivery report before the next channel
    link: str = ""                        # template of a URL shown as a button where the channel can
    link_title: str = "Xem đơn hàng"
    zns_template: str = ""                # Zalo ZNS template id (TempID)
    zns_data: tuple[tuple[str, str], ...] = ()  # ZNS parameter -> template of its value

    def matches(self, event: str, status: str | None = None, payment_method: str | None = None) -> bool:
        if not self.enabled or event != self.event:
            return False
        if self.statuses and status not in self.statuses:
            return False
        if self.payment_methods and payment_method not in self.payment_methods:
            return False
        return True


@dataclass
class RuleSet:
    rules: list[Rule] = field(default_factory=list)
    env: SandboxedEnvironment = field(default_factory=lambda: make_env())
    _compiled: dict[str, Template] = field(default_factory=dict)
    # The owner's edits saved in the admin (rule name -> text), read at every render so a save
    # reaches every process at once; None: the YAML texts only.
    overrides: Callable[[], Mapping[str, str]] | None = None

    def matching(self, event: str, status: str | None = None, payment_method: str | None = None) -> list[Rule]:
        return [r for r in self.rules if r.matches(event, status, payment_method)]

    def template_of(self, rule: Rule) -> str:
        """The text a rule sends now: the owner's saved override, else the YAML default."""
        if self.overrides is None:
            return rule.template
        return self.overrides().get(rule.name, rule.template)

    def override_problems(self, sample_contexts: dict[str, dict[str, Any]]) -> list[str]:
        """Saved texts that no longer pass the check (their YAML rule changed event since): said at
        start, since the YAML is checked there but the database is the owner's."""
        saved = self.overrides() if self.overrides is not None else {}
        return [f"rule {r.name!r}: the text saved in the admin: {problem} (the admin's Templates page"
                " can put it back to the default)" for r in self.rules if r.name in saved
                for problem in [template_problem(saved[r.name], sample_contexts[r.event])] if problem]

    def render(self, rule: Rule, context: dict[str, Any]) -> Written:
        """The rule's text for this order; never raises. A text passes its check on one sample
        order, and a real order can still break it (an empty name split, no items to divide by):
        the render runs inside the payment confirmation's or the order's transaction, so an
        exception would roll back the payment with it. An override that fails falls back to the
        YAML default; a default that fails too gives an empty text noting why, which the outbox
        records as a failed message."""
        source = self.template_of(rule)
        try:
            return Written(self._text(source, context))
        except Exception as exc:   # any error of the owner's text is this one message's, not the caller's
            problem = describe(exc)
        if source != rule.template:
            log.warning("rule %s: the text saved in the admin could not be written for this order (%s);"
                        " sending the default text", rule.name, problem)
            note = reasons.encode("rules.override_failed", rule=rule.name, error=problem)
            try:
                return Written(self._text(rule.template, context), note)
            except Exception as exc:   # the default fails on this order too: recorded below
                problem = describe(exc)
        log.warning("rule %s: the template could not be written for this order, message not sent: %s",
                    rule.name, problem)
        return Written("", reasons.encode("rules.template_failed", error=problem))

    def preview(self, rule: Rule, context: dict[str, Any], source: str | None = None) -> str:
        """`source` (default: the text in force) rendered as `render` would, raising what it
        raises: the editor shows the owner's error rather than the fallback."""
        if source is None:
            return self._text(self.template_of(rule), context)
        return write(self.env.from_string(source), context)   # a draft: not kept in the cache

    def _text(self, source: str, context: dict[str, Any]) -> str:
        # Compiling a template costs milliseconds; rendering a compiled one, microseconds.
        template = self._compiled.get(source)
        if template is None:
            template = self._compiled[source] = self.env.from_string(source)
        return write(template, context)

    def extras(self, rule: Rule, context: dict[str, Any]) -> dict[str, Any] | None:
        """What the rule sends besides the text: a link button (Messenger), a Zalo template.
        Never raises (see `render`): a link that cannot be written for this order is left off."""
        out: dict[str, Any] = {}
        if rule.link:
            try:
                url = self._text(rule.link, context)
            except Exception as exc:   # the message goes without its button
                log.warning("rule %s: the link could not be written for this order, sent without it: %s",
                            rule.name, describe(exc))
                url = ""
            if url:
                out["link"] = {"url": url, "title": rule.link_title}
        if rule.zns_template:
            data = {}
            for k, v in rule.zns_data:
                try:
                    data[k] = self._text(v, context)
                except Exception as exc:   # Zalo refuses the gap; the rule's next channel takes over
                    log.warning("rule %s: Zalo parameter %s could not be written for this order: %s",
                                rule.name, k, describe(exc))
                    data[k] = ""
            out["zns"] = {"template_id": rule.zns_template, "data": data}
        return out or None

    def check_extras(self, rule: Rule, context: dict[str, Any]) -> None:
        """`extras`, raising: the check of a rule's link and Zalo data at load."""
        if rule.link:
            self._text(rule.link, context)
        for _k, v in rule.zns_data:
            self._text(v, context)

    def by_name(self, name: str) -> Rule | None:
        return next((r for r in self.rules if r.name == name), None)


def make_env() -> SandboxedEnvironment:
    # Sandboxed: templates are edited by shop owners and must not reach into Python objects, nor
    # write megabytes. StrictUndefined: a misspelt variable is an error at load time, not an empty
    # gap in an SMS.
    return _MessageSandbox(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False)


def template_problem(template: Any, context: dict[str, Any]) -> str | None:
    """What is wrong with a template's text, or None: the one check for the YAML at load and for
    the owner's edits in the admin (text, compiles in the sandbox, renders on the sample with no
    undefined variable, at most MAX_TEXT characters written). Any error is a refusal: a template
    is arbitrary code, and `{{ 1 // 0 }}` must be a clear "no", not a crash."""
    if not isinstance(template, str) or not template.strip():
        return "is required and must be text"
    try:
        write(make_env().from_string(template), context)
    except TemplateError as exc:
        return str(exc)
    except Exception as exc:   # ZeroDivisionError, IndexError, OverflowError...: all the template's
        return describe(exc)
    return None


def _as_tuple(value: Any, where: str, allowed: tuple[str, ...] | None = None) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(x, str) and x for x in items):
        raise RulesError(f"{where}: must be a name or a list of names")
    if allowed:
        bad = [x for x in items if x not in allowed]
        if bad:
            raise RulesError(f"{where}: unknown {bad[0]!r}; expected one of {', '.join(allowed)}")
    return tuple(items)


TEMPLATE_CHANNELS = providers.template_channels()  # channels that send a registered template, not free text


def _parse_rule(raw: Any, source: str, index: int, known_channels: tuple[str, ...]) -> Rule:
    label = f"{source}: rule #{index + 1}"
    if not isinstance(raw, dict):
        raise RulesError(f"{label}: must be a mapping with name, event, template")
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        raise RulesError(f"{label}: field 'name' is required")
    label = f"{source}: rule {name!r}"
    unknown = set(raw) - RULE_FIELDS
    if unknown:
        raise RulesError(f"{label}: unknown field {sorted(unknown)[0]!r}; allowed: {', '.join(sorted(RULE_FIELDS))}")
    event = raw.get("event")
    if event not in EVENTS:
        raise RulesError(f"{label}: field 'event' must be one of {', '.join(EVENTS)} (got {event!r})")
    template = raw.get("template")
    if not isinstance(template, str) or not template.strip():
        raise RulesError(f"{label}: field 'template' is required and must be text")
    to = raw.get("to", "customer")
    if to not in AUDIENCES:
        raise RulesError(f"{label}: field 'to' must be one of {', '.join(AUDIENCES)} (got {to!r})")
    channels = _as_tuple(raw.get("channel", DEFAULT_CHANNEL), f"{label}: field 'channel'", known_channels)
    statuses: tuple[str, ...] = ()
    allowed_statuses = {"order.status": ORDER_STATUSES, "shipment.status": SHIPMENT_STATUSES}
    if "status" in raw:
        if event not in allowed_statuses:
            raise RulesError(f"{label}: field 'status' only applies to events order.status and shipment.status")
        statuses = _as_tuple(raw["status"], f"{label}: field 'status'", allowed_statuses[event])
    elif event in allowed_statuses:
        raise RulesError(f"{label}: field 'status' is required for event {event}")
    payment_methods = _as_tuple(raw["payment_methods"], f"{label}: field 'payment_methods'") \
        if "payment_methods" in raw else ()
    flags = {}
    for key, default in (("unicode", True), ("urgent", True), ("enabled", True)):
        value = raw.get(key, default)
        if not isinstance(value, bool):
            raise RulesError(f"{label}: field {key!r} must be true or false (got {value!r})")
        flags[key] = value
    fallback_after = raw.get("fallback_after")
    if fallback_after is not None:
        if isinstance(fallback_after, bool) or not isinstance(fallback_after, (int, float)) or fallback_after <= 0:
            raise RulesError(f"{label}: field 'fallback_after' must be a number of seconds > 0 (got {fallback_after!r})")
        if len(channels) < 2:
            raise RulesError(f"{label}: field 'fallback_after' needs a list of channels to fall back to")
    link, link_title = raw.get("link", ""), raw.get("link_title", "Xem đơn hàng")
    for key, value in (("link", link), ("link_title", link_title)):
        if not isinstance(value, str):
            raise RulesError(f"{label}: field {key!r} must be text")
    zns_template, zns_data = "", ()
    if "zns" in raw:
        zns = raw["zns"]
        if not isinstance(zns, dict) or set(zns) - {"template_id", "data"} or "template_id" not in zns:
            raise RulesError(f"{label}: field 'zns' must be a mapping with template_id and data")
        zns_template = str(zns["template_id"]).strip()
        data = zns.get("data") or {}
        if not zns_template or not isinstance(data, dict) or not all(
                isinstance(k, str) and isinstance(v, (str, int, float)) for k, v in data.items()):
            raise RulesError(f"{label}: field 'zns': template_id must be set and data must map names to templates")
        zns_data = tuple((k, str(v)) for k, v in data.items())
    templated = [c for c in channels if c in TEMPLATE_CHANNELS]
    if templated and not zns_template:
        raise RulesError(f"{label}: channel {templated[0]!r} sends a registered template: field 'zns' with"
                         " template_id and data is required")
    return Rule(name=name, event=event, template=template, source=source, to=to, channels=channels,
                statuses=statuses, payment_methods=payment_methods, fallback_after=fallback_after, link=link,
                link_title=link_title, zns_template=zns_template, zns_data=zns_data, **flags)


def load_rules(directory: str | Path, known_channels: tuple[str, ...],
               sample_contexts: dict[str, dict[str, Any]]) -> RuleSet:
    """Load every `*.yaml`/`*.yml` in `directory`, validate, and test-render each template."""
    d = Path(directory)
    if not d.is_dir():
        raise RulesError(f"mappings directory {str(d)!r} does not exist")
    ruleset = RuleSet()
    seen: dict[str, str] = {}
    for path in sorted(list(d.glob("*.yaml")) + list(d.glob("*.yml"))):
        source = str(path)
        try:
            doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            raise RulesError(f"{source}: not valid YAML: {exc}") from exc
        if doc is None:
            continue
        if not isinstance(doc, dict) or "rules" not in doc:
            # other mapping files (devices, keyword forwards...) live beside the rules
            continue
        if not isinstance(doc["rules"], list):
            raise RulesError(f"{source}: 'rules' must be a list")
        for i, raw in enumerate(doc["rules"]):
            rule = _parse_rule(raw, source, i, known_channels)
            if rule.name in seen:
                raise RulesError(f"{source}: rule {rule.name!r}: name already used in {seen[rule.name]}")
            seen[rule.name] = source
            problem = template_problem(rule.template, sample_contexts[rule.event])
            if problem:
                raise RulesError(f"{source}: rule {rule.name!r}: field 'template': {problem}")
            try:
                ruleset.check_extras(rule, sample_contexts[rule.event])
            except Exception as exc:   # whatever the template raised, said with where it is
                raise RulesError(f"{source}: rule {rule.name!r}: field 'link' or 'zns': {describe(exc)}") from exc
            ruleset.rules.append(rule)
    return ruleset
