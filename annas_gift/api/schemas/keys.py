"""Request and response bodies of /api/v1/keys (virtual keys)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from annas_gift.services.key_admin import KeyView

NAME = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.@+-]*$")
TEAM = Field(default=None, min_length=1, max_length=128, examples=["cs101-fall"])
# Finite and storable: an infinite budget or a 2**64 rpm would pass `ge`/`gt` and then fail in
# the budget arithmetic or the database's 64-bit INTEGER (a 500 instead of this 400).
USD = Field(default=None, ge=0, allow_inf_nan=False, description="USD; null: unlimited")
LIMIT = Field(default=None, gt=0, le=2**63 - 1)
Meta = dict[str, str | int | float | bool | None]


class KeyCreate(BaseModel):
    """A new virtual key; every limit and budget left out is unlimited."""

    model_config = ConfigDict(extra="forbid")

    name: str = NAME
    team: str | None = TEAM
    expires_at: AwareDatetime | None = None
    allowed_models: list[str] | None = Field(
        default=None,
        max_length=200,
        description="model names, globs (groq/*) or auto*; null: every model",
        examples=[["auto*", "groq/*"]],
    )
    rpm: int | None = LIMIT
    tpm: int | None = LIMIT
    budget_daily_usd: float | None = USD
    budget_monthly_usd: float | None = USD
    budget_total_usd: float | None = USD
    metadata: Meta = Field(default_factory=dict, max_length=50)


class KeyPatch(BaseModel):
    """Fields to change; omitted fields stay, null clears (limits and budgets: unlimited)."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=128)
    team: str | None = TEAM
    expires_at: AwareDatetime | None = None
    allowed_models: list[str] | None = Field(default=None, max_length=200)
    rpm: int | None = LIMIT
    tpm: int | None = LIMIT
    budget_daily_usd: float | None = USD
    budget_monthly_usd: float | None = USD
    budget_total_usd: float | None = USD
    metadata: Meta | None = Field(default=None, max_length=50)

    @model_validator(mode="after")
    def _name_is_not_cleared(self) -> KeyPatch:
        if "name" in self.model_fields_set and self.name is None:
            raise ValueError("name cannot be null")
        return self

    def changes(self) -> dict[str, Any]:
        """Only the fields the client sent."""
        return self.model_dump(exclude_unset=True)


class SpendOut(BaseModel):
    """USD recorded in usage for this key."""

    day_usd: float
    month_usd: float
    total_usd: float


class KeyOut(BaseModel):
    """A virtual key without its secret: `prefix` is all that is shown of it."""

    object: str = "virtual_key"
    id: str
    name: str
    team: str | None
    prefix: str = Field(examples=["ag-3f9c…"])
    status: str = Field(description="active | expired | revoked")
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    allowed_models: list[str] | None
    rpm: int | None
    tpm: int | None
    budget_daily_usd: float | None
    budget_monthly_usd: float | None
    budget_total_usd: float | None
    metadata: dict[str, Any]
    spend: SpendOut | None = None

    @classmethod
    def of(cls, view: KeyView) -> KeyOut:
        """The response body of a key view."""
        r = view.record
        spend = view.spend
        return cls(
            id=r.id,
            name=r.name,
            team=r.team,
            prefix=view.prefix,
            status=view.status,
            created_at=r.created_at,
            expires_at=r.expires_at,
            revoked_at=r.revoked_at,
            allowed_models=None if r.allowed_models is None else list(r.allowed_models),
            rpm=r.rpm,
            tpm=r.tpm,
            budget_daily_usd=r.budget_daily_usd,
            budget_monthly_usd=r.budget_monthly_usd,
            budget_total_usd=r.budget_total_usd,
            metadata=dict(r.metadata),
            spend=None if spend is None else SpendOut(**_spend(spend)),
        )


def _spend(spend: Any) -> dict[str, float]:
    return {"day_usd": spend.day_usd, "month_usd": spend.month_usd, "total_usd": spend.total_usd}


class KeyIssued(KeyOut):
    """A key with its secret: the only response that ever contains it."""

    secret: str = Field(description="shown once; store it now", examples=["ag-…"])


class KeyList(BaseModel):
    """Keys by name."""

    object: str = "list"
    data: list[KeyOut]
