"""Lead webhooks: which vendors may post leads, with which secrets, and how their payloads map
onto the lead contract (``hk_core/intake/lead_webhooks.yaml``; docs/webhooks.md).

The file names the environment variables that hold each provider's secrets, never a secret.
It is validated whole at start-up: every problem is reported, named by provider and field.
Paths into payloads are hk_core/intake/payload_paths.py.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]
from pydantic import ValidationError

from hk_core.contract import LEAD_COLUMNS, LeadIn
from hk_core.intake.payload_paths import PathError, PayloadPath
from hk_core.records import field_errors

DEFAULT_LEAD_WEBHOOKS_FILE = Path(__file__).with_name("lead_webhooks.yaml")
# The contract splits one name column into first and last (hk_core/contract.py).
MAPPABLE_FIELDS = frozenset(LEAD_COLUMNS) | {"full_name"}
MAX_EVENT_ID = 200
_PROVIDER_NAME = re.compile(r"[a-z][a-z0-9_-]{0,39}")
_ENV_NAME = re.compile(r"[A-Z_][A-Z0-9_]*")
_PROVIDER_KEYS = frozenset(
    {"description", "secret_env", "event_id", "event_type", "fields", "constants"}
)


class WebhookConfigError(ValueError):
    """A lead webhooks file that does not validate: every problem, by provider and field."""


@dataclass(frozen=True, slots=True)
class FieldProblem:
    """One contract field refused: the vendor's path for it and why."""

    field: str
    path: str
    reason: str


class PayloadError(ValueError):
    """A payload that maps to no valid lead: each problem names the vendor's path and field."""

    def __init__(self, problems: list[FieldProblem]):
        super().__init__("; ".join(f"{p.path} ({p.field}): {p.reason}" for p in problems))
        self.problems = problems


@dataclass(frozen=True, slots=True)
class MappedLead:
    lead: LeadIn
    # The contract-named fields as sent, for the contract's warnings about unmapped values.
    raw: dict[str, Any]


@dataclass(frozen=True, slots=True)
class LeadWebhookProvider:
    name: str
    secret_envs: tuple[str, ...]
    event_id: PayloadPath
    event_type: PayloadPath | None
    fields: Mapping[str, PayloadPath]
    constants: Mapping[str, Any]
    description: str = ""
    # Read from the environment when the file is loaded; empty: the provider is switched off.
    secrets: tuple[str, ...] = field(default=(), repr=False)

    def event_id_of(self, payload: Any) -> str | None:
        found, value = self.event_id.find(payload)
        if not found or value is None or isinstance(value, (dict, list, bool)):
            return None
        text = str(value).strip()
        # Not truncated: two long ids sharing a prefix would become one event.
        return text if text and len(text) <= MAX_EVENT_ID else None

    def event_type_of(self, payload: Any) -> str | None:
        if self.event_type is None:
            return None
        found, value = self.event_type.find(payload)
        return str(value)[:100] if found and isinstance(value, (str, int)) else None

    def map_lead(self, payload: Any) -> MappedLead:
        """The lead in ``payload``, validated by the contract; PayloadError names what is wrong
        by the vendor's path. Without a mapped or constant source, the source is the provider."""
        if not isinstance(payload, dict):
            raise PayloadError([FieldProblem("_record", "(body)", "expected a JSON object")])
        raw: dict[str, Any] = {"source": self.name, **self.constants}
        for target, path in self.fields.items():
            found, value = path.find(payload)
            if found:
                raw[target] = value
        try:
            lead = LeadIn.model_validate(raw)
        except ValidationError as exc:
            raise PayloadError(
                [FieldProblem(name, self.path_of(name), why) for name, why in field_errors(exc)]
            ) from None
        return MappedLead(lead, raw)

    def path_of(self, contract_field: str) -> str:
        if contract_field in self.fields:
            return self.fields[contract_field].text
        if contract_field in self.constants:
            return f"(constant {contract_field})"
        if contract_field in ("first_name", "last_name") and "full_name" in self.fields:
            return self.fields["full_name"].text
        return "(not mapped)"


@dataclass(frozen=True, slots=True)
class LeadWebhooks:
    providers: Mapping[str, LeadWebhookProvider]

    def configured(self, name: str) -> LeadWebhookProvider | None:
        """The provider, when it exists and has at least one secret."""
        provider = self.providers.get(name)
        return provider if provider is not None and provider.secrets else None


def parse_lead_webhooks(
    text: str, source: str = "<string>", environ: Mapping[str, str] | None = None
) -> LeadWebhooks:
    environ = os.environ if environ is None else environ
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise WebhookConfigError(f"{source}: not YAML: {exc}") from exc
    problems: list[str] = []
    providers: dict[str, LeadWebhookProvider] = {}
    entries = data.get("providers") if isinstance(data, dict) else None
    if not isinstance(entries, dict):
        raise WebhookConfigError(f"{source}: expected a mapping 'providers: {{name: ...}}'")
    for name, spec in entries.items():
        provider = _provider(str(name), spec, environ, problems)
        if provider is not None:
            providers[provider.name] = provider
    if problems:
        raise WebhookConfigError(f"{source}:\n  " + "\n  ".join(problems))
    return LeadWebhooks(providers)


def _provider(
    name: str, spec: Any, environ: Mapping[str, str], problems: list[str]
) -> LeadWebhookProvider | None:
    start = len(problems)

    def problem(place: str, message: str) -> None:
        problems.append(f"providers.{name}{'.' + place if place else ''}: {message}")

    if not _PROVIDER_NAME.fullmatch(name):
        problem("", "a provider name is lowercase letters, digits, '-' or '_' (it is in the URL)")
    if not isinstance(spec, dict):
        problem("", "expected a mapping with secret_env, event_id and fields")
        return None
    for key in sorted(set(spec) - _PROVIDER_KEYS):
        problem(str(key), f"unknown key (expected one of {', '.join(sorted(_PROVIDER_KEYS))})")
    envs = spec.get("secret_env")
    env_names = [envs] if isinstance(envs, str) else envs
    if not isinstance(env_names, list) or not env_names:
        problem("secret_env", "required: the environment variable (or a list) with the secret")
        env_names = []
    for env in env_names:
        if not isinstance(env, str) or not _ENV_NAME.fullmatch(env):
            problem("secret_env", f"{env!r} is not an environment variable name")

    def path(place: str, text: Any) -> PayloadPath | None:
        try:
            return PayloadPath.parse(text)
        except PathError as exc:
            problem(place, f"bad path: {exc}")
            return None

    event_id = path("event_id", spec.get("event_id")) if "event_id" in spec else None
    if "event_id" not in spec:
        problem("event_id", "required: the path of the vendor's event id in the payload")
    event_type = path("event_type", spec["event_type"]) if spec.get("event_type") else None
    fields: dict[str, PayloadPath] = {}
    mapping = spec.get("fields")
    if not isinstance(mapping, dict) or not mapping:
        problem("fields", "required: a mapping of contract field -> payload path")
        mapping = {}
    for target, text in mapping.items():
        if target not in MAPPABLE_FIELDS:
            problem(f"fields.{target}", "unknown contract field (docs/data-contracts.md)")
            continue
        found = path(f"fields.{target}", text)
        if found is not None:
            fields[target] = found
    constants = spec.get("constants") or {}
    if not isinstance(constants, dict):
        problem("constants", "expected a mapping of contract field -> value")
        constants = {}
    for target, value in constants.items():
        if target not in MAPPABLE_FIELDS:
            problem(f"constants.{target}", "unknown contract field (docs/data-contracts.md)")
        elif target in fields:
            problem(f"constants.{target}", "also mapped under fields: give one or the other")
        elif isinstance(value, (dict, list)):
            problem(f"constants.{target}", "a constant is one value, not a mapping or a list")
    if len(problems) > start or event_id is None:
        return None
    # Stripped: a secret pasted into a variable with its newline is still the secret.
    secrets = tuple(environ[env].strip() for env in env_names if environ.get(env, "").strip())
    return LeadWebhookProvider(
        name=name,
        secret_envs=tuple(env_names),
        event_id=event_id,
        event_type=event_type,
        fields=fields,
        constants=dict(constants),
        description=str(spec.get("description") or "").strip(),
        secrets=secrets,
    )


def load_lead_webhooks(
    path: Path | None = None, environ: Mapping[str, str] | None = None
) -> LeadWebhooks:
    """The providers in ``path`` (default: the shipped file), secrets read from ``environ``."""
    path = path or DEFAULT_LEAD_WEBHOOKS_FILE
    try:
        text = path.read_text()
    except OSError as exc:
        raise WebhookConfigError(f"{path}: cannot read the lead webhooks file: {exc}") from exc
    return parse_lead_webhooks(text, str(path), environ)
