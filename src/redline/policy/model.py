"""Policy as data: the operator policy, tenant contracts, provider usage policies and designations.

Every model forbids unknown keys, so a misspelt clause is an error rather than a silently ignored safeguard.
Red-line semantics (what may only be tightened) live in `guard`; these models only describe shapes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Self

import rfc8785
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from redline.policy.decision import Action
from redline.screening.verdict import RED_LINES

Name = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.:-]*$", max_length=128)]
"""Identifiers: tenant classes, categories, provider and designation ids."""


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("timestamp must carry a timezone, e.g. 2026-03-01T00:00:00Z")
    return value


Timestamp = Annotated[datetime, AfterValidator(_aware)]

STRICTNESS: dict[Action, int] = {Action.ALLOW: 0, Action.FLAG: 1, Action.REQUIRE_APPROVAL: 2, Action.BLOCK: 3}
"""How strict each action is, so that "forbid wins" can pick the strictest of several."""


class PolicyDocument(BaseModel):
    """A frozen, validated document with a content hash, computed once: decisions carry it per request."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    _version_hash: str = PrivateAttr(default="")

    def model_post_init(self, context: Any, /) -> None:
        self._version_hash = hashlib.sha256(rfc8785.dumps(self.model_dump(mode="json"))).hexdigest()

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        """A validated copy (pydantic's own would skip validation and keep a stale version hash)."""
        return self.model_validate(self.model_dump() | dict(update or {}))

    @property
    def version_hash(self) -> str:
        """SHA-256 over the RFC 8785 canonical JSON of the document: the same content, the same version."""
        return self.__pydantic_private__["_version_hash"]  # type: ignore[index]

    def __hash__(self) -> int:
        """Equal documents have equal content hashes, so documents can key caches (`effective`)."""
        return hash(self.version_hash)


class RedLine(PolicyDocument):
    """One red line of the operator policy: a category that denies whenever its score reaches `threshold`."""

    enabled: bool = True
    threshold: float = Field(gt=0.0, lt=1.0)
    action: Action = Action.BLOCK
    description: str = ""

    @model_validator(mode="after")
    def _denies(self) -> RedLine:
        if not self.enabled:
            raise ValueError("a red line cannot be disabled")
        if STRICTNESS[self.action] < STRICTNESS[Action.REQUIRE_APPROVAL]:
            raise ValueError("a red line must block or require approval")
        return self


class OperatorPolicy(PolicyDocument):
    """The red lines. Changing them is an explicit operator act, versioned and audited."""

    version: str
    red_lines: dict[Name, RedLine]

    @model_validator(mode="after")
    def _all_red_lines(self) -> OperatorPolicy:
        missing = sorted(set(RED_LINES) - set(self.red_lines))
        if missing:
            raise ValueError(f"red lines missing: {', '.join(missing)}")
        return self


class RedLineOverlay(PolicyDocument):
    """A contract's tightening of a red line: a lower threshold or a stricter action, nothing else."""

    threshold: float | None = Field(default=None, gt=0.0, lt=1.0)
    action: Action | None = None


class Restriction(PolicyDocument):
    """An extra restricted use: a classifier category, or a description the classifier can screen for."""

    id: Name
    category: Name | None = None
    description: str | None = None
    threshold: float = Field(default=0.5, gt=0.0, lt=1.0)
    action: Action = Action.BLOCK

    @model_validator(mode="after")
    def _something_to_match(self) -> Restriction:
        if self.category is None and not self.description:
            raise ValueError("a restriction needs a category or a description")
        if self.action is Action.ALLOW:
            raise ValueError("a restriction cannot allow")
        return self


class TenantContract(PolicyDocument):
    """A tenant's overlay on the operator policy: it may add restrictions and may not remove any."""

    tenant: Name
    tenant_class: Name
    allowed_providers: list[Name] | None = None
    allowed_models: list[str] | None = None
    red_lines: dict[Name, RedLineOverlay] = Field(default_factory=dict)
    restricted_uses: list[Restriction] = Field(default_factory=list)
    retain_content: bool = False
    notes: str = ""


class ProviderUsagePolicy(PolicyDocument):
    """A provider's own usage policy, stricter than the operator's: extra restrictions on its traffic."""

    provider: Name
    restricted_uses: list[Restriction] = Field(default_factory=list)


class Effect(StrEnum):
    NO_NEW_USE = "no_new_use"
    REMOVE_EXISTING_USE = "remove_existing_use"


class LegalStatus(StrEnum):
    ACTIVE = "active"
    ENJOINED = "enjoined"
    RESCINDED = "rescinded"


class Scope(PolicyDocument):
    """Who a designation covers: whole tenant classes, plus named tenants or systems of any class."""

    tenant_classes: list[Name] = Field(default_factory=list)
    tenants: list[Name] = Field(default_factory=list)
    systems: list[Name] = Field(default_factory=list)

    def covers(self, tenant: str, tenant_class: str, system: str | None) -> bool:
        return (
            tenant_class in self.tenant_classes
            or tenant in self.tenants
            or (system is not None and system in self.systems)
        )


class Successor(PolicyDocument):
    """Where traffic moves after the phase-out: a provider, optionally under another upstream model name."""

    provider: Name
    model: str | None = None


class Waiver(PolicyDocument):
    tenant: Name
    expires_at: Timestamp
    reason: str = ""


class Designation(PolicyDocument):
    """A supply-chain-risk or exclusion order against providers, as issued by an authority."""

    id: Name
    authority: str
    subject_providers: list[Name] = Field(min_length=1)
    effects: list[Effect] = Field(min_length=1)
    scope: Scope
    effective_at: Timestamp
    phaseout_deadline: Timestamp | None = None
    status: LegalStatus = LegalStatus.ACTIVE
    successor: Successor | None = None
    successors: dict[str, Successor] = Field(default_factory=dict)
    waivers: list[Waiver] = Field(default_factory=list)
    reference: str = ""

    @model_validator(mode="after")
    def _deadline_after_effect(self) -> Designation:
        if self.phaseout_deadline is not None and self.phaseout_deadline < self.effective_at:
            raise ValueError("phaseout_deadline is before effective_at")
        return self

    def successor_for(self, model: str) -> Successor | None:
        """The successor for `model`: its own entry first, else the designation-wide one."""
        return self.successors.get(model, self.successor)


DOCUMENT_KINDS: dict[str, type[PolicyDocument]] = {
    "operator_policy": OperatorPolicy,
    "contract": TenantContract,
    "provider_policy": ProviderUsagePolicy,
    "designation": Designation,
}
"""The `kind:` of a policy file and the model it holds."""
