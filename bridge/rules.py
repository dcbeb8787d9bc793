"""Notification rules: which event sends what text to whom, through which channel.

Shop owners edit `mappings/*.yaml`; a mistake there must stop the service at start with a
message naming the file, the rule and the field, not surface later as a customer who never
got an SMS. So every rule is validated and every template is test-rendered on load.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import yaml
from jinja2 import StrictUndefined, Template, TemplateError
from jinja2.sandbox import SandboxedEnvironment

from . import providers

EVENTS = ("order.status", "order.new", "customer.created", "account.password_reset", "payment.confirmed",
          "payment.expired")
AUDIENCES = ("customer", "owner")
ORDER_STATUSES = ("pending", "on-hold", "processing", "completed", "cancelled", "refunded", "failed")
DEFAULT_CHANNEL = providers.default_channel()   # of a rule without `channel:` (the provider that declares it)
RULE_FIELDS = {"name", "event", "status", "to", "channel", "unicode", "urgent", "enabled", "template",
               "payment_methods", "fallback_after", "link", "link_title", "zns"}


class RulesError(ValueError):
    """A mapping file is wrong; the message says where."""


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

    def render(self, rule: Rule, context: dict[str, Any]) -> str:
        # Compiling a template costs milliseconds; rendering a compiled one, microseconds.
        return self._text(self.template_of(rule), context)

    def _text(self, source: str, context: dict[str, Any]) -> str:
        template = self._compiled.get(source)
        if template is None:
            template = self._compiled[source] = self.env.from_string(source)
        return template.render(**context).strip()

    def extras(self, rule: Rule, context: dict[str, Any]) -> dict[str, Any] | None:
        """What the rule sends besides the text: a link button (Messenger), a Zalo template."""
        out: dict[str, Any] = {}
        if rule.link:
            url = self._text(rule.link, context)
            if url:
                out["link"] = {"url": url, "title": rule.link_title}
        if rule.zns_template:
            out["zns"] = {"template_id": rule.zns_template,
                          "data": {k: self._text(v, context) for k, v in rule.zns_data}}
        return out or None

    def by_name(self, name: str) -> Rule | None:
        return next((r for r in self.rules if r.name == name), None)


def make_env() -> SandboxedEnvironment:
    # Sandboxed: templates are edited by shop owners and must not reach into Python objects.
    # StrictUndefined: a misspelt variable is an error at load time, not an empty gap in an SMS.
    return SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False)


def template_problem(template: Any, context: dict[str, Any]) -> str | None:
    """What is wrong with a template's text, or None: the one check for the YAML at load and for
    the owner's edits in the admin (text, compiles in the sandbox, renders on the sample with no
    undefined variable)."""
    if not isinstance(template, str) or not template.strip():
        return "is required and must be text"
    try:
        make_env().from_string(template).render(**context)
    except (TemplateError, TypeError, ValueError) as exc:
        return str(exc)
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
    if "status" in raw:
        if event != "order.status":
            raise RulesError(f"{label}: field 'status' only applies to event order.status")
        statuses = _as_tuple(raw["status"], f"{label}: field 'status'", ORDER_STATUSES)
    elif event == "order.status":
        raise RulesError(f"{label}: field 'status' is required for event order.status")
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
                ruleset.extras(rule, sample_contexts[rule.event])
            except TemplateError as exc:
                raise RulesError(f"{source}: rule {rule.name!r}: field 'link' or 'zns': {exc}") from exc
            ruleset.rules.append(rule)
    return ruleset
