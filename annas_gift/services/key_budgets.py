"""A key's rules on the chat path: its allowed models, its rpm/tpm, and its USD budgets.

Budgets are reserved on an estimate before each attempt and reconciled with the priced cost
after it (released when the call fails), through `state.budgets.BudgetLedger`: exact within
one process, and across instances when the ledger is on Redis. A key's counters are seeded
from the usage records the first time this process sees the key in a UTC day, so a restart
(or a flushed Redis) does not forget what was spent.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from annas_gift.catalog.rate_limits import ClientLimits
from annas_gift.catalog.registry import CatalogModel
from annas_gift.core import errors
from annas_gift.core.types import AUTO_MODELS, ChatInput
from annas_gift.services import budget_policy as bp
from annas_gift.services.key_cache import KeyCache
from annas_gift.services.keys import KeyRecord, TeamBudgets, candidate_allowed, check_model
from annas_gift.services.types import RoutePlan
from annas_gift.settings_keys import BudgetSettings
from annas_gift.state.budgets import (
    BudgetDenial,
    BudgetLedger,
    BudgetLine,
    Reservation,
    period_start,
    to_micro,
)
from annas_gift.storage.repositories.keys import KeyRepository, Spend

log = logging.getLogger(__name__)
# How long the spend of requests that no budget limits may wait before it reaches the ledger.
UNCAPPED_FLUSH_S = 1.0
# Budget lines kept per key id (the bound is a safety net: a gateway has far fewer keys).
_LINES_KEPT = 4096


@dataclass(frozen=True, slots=True)
class UncappedHold(Reservation):
    """An attempt no budget limits: nothing is held; its cost is counted in a batch later."""

    lines: tuple[BudgetLine, ...] = ()


def virtual_key_limits(
    cache: KeyCache, settings_limits: Callable[[str | None], ClientLimits]
) -> Callable[[str | None], ClientLimits]:
    """Client limits per key id: a virtual key's own rpm/tpm, else the settings' limits."""

    def limits(key_id: str | None) -> ClientLimits:
        record = cache.get(key_id) if key_id else None
        if record is None or (record.rpm is None and record.tpm is None):
            return settings_limits(key_id)
        return ClientLimits(rpm=record.rpm, tpm=record.tpm)

    return limits


class KeyBudgets:
    """Allowed models, budget reservations and budget-aware `auto` for the chat service."""

    def __init__(
        self,
        ledger: BudgetLedger,
        cache: KeyCache | None,
        settings: BudgetSettings,
        sessions: async_sessionmaker[AsyncSession] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.ledger = ledger
        self._cache = cache
        self._settings = settings
        self._caps = bp.GlobalCaps(
            settings.global_daily_usd, settings.global_monthly_usd, settings.global_total_usd
        )
        self._sessions = sessions
        self._clock = clock
        self._lines: dict[
            str | None, tuple[KeyRecord | None, TeamBudgets | None, tuple[BudgetLine, ...]]
        ] = {}
        self._seeded: set[tuple[str | None, date]] = set()  # (key id, UTC day) seeded here
        # Requests no budget limits need no admission, so their cost is counted in batches:
        # µUSD per request's lines, written to the ledger at most UNCAPPED_FLUSH_S later and
        # always before a reservation that a limit could refuse (exact within this process).
        self._uncapped: defaultdict[tuple[BudgetLine, ...], int] = defaultdict(int)
        self._flushes: set[asyncio.Task[None]] = set()  # timed flushes in progress

    def _record(self, key_id: str | None) -> KeyRecord | None:
        return self._cache.get(key_id) if self._cache is not None and key_id else None

    def lines(self, key_id: str | None) -> tuple[BudgetLine, ...]:
        """Every budget a request of this key counts against (key, team, global).

        Built once per key and kept while the key cache serves the same record and team
        objects (it replaces them when a key or team changes): this runs on every request.
        """
        record = self._record(key_id)
        team = self._cache.team(record.team) if record is not None and self._cache else None
        kept = self._lines.get(key_id)
        if kept is not None and kept[0] is record and kept[1] is team:
            return kept[2]
        lines = tuple(bp.budget_lines(key_id or "anonymous", record, team, self._caps))
        if len(self._lines) >= _LINES_KEPT:
            self._lines.clear()
        self._lines[key_id] = (record, team, lines)
        return lines

    def check_request(self, key_id: str | None, inp: ChatInput) -> None:
        """403 model_not_allowed when the request names a model outside the key's list."""
        record = self._record(key_id)
        if record is None or record.allowed_models is None:
            return
        check_model(record, inp.model)
        for name in inp.fallbacks:
            check_model(record, name)

    async def shape(self, key_id: str | None, inp: ChatInput, plan: RoutePlan) -> RoutePlan:
        """An `auto` plan kept to the key's models, cheapest first when a budget is nearly used."""
        if plan.explicit or inp.model not in AUTO_MODELS:
            return plan
        record = self._record(key_id)
        if record is not None and record.allowed_models is not None:
            patterns = record.allowed_models
            plan.models = [m for m in plan.models if candidate_allowed(patterns, m.name)]
            if not plan.models:
                raise errors.ModelNotAllowed(
                    "None of the models auto routing may choose is allowed for this API key "
                    f"(allowed: {', '.join(patterns)}).",
                    param="model",
                )
        if self._settings.prefer_cheaper:
            await self._prefer_cheaper(key_id, inp, plan)
        return plan

    async def _prefer_cheaper(self, key_id: str | None, inp: ChatInput, plan: RoutePlan) -> None:
        lines = self.lines(key_id)
        if all(line.limit_usd is None for line in lines) or len(plan.models) < 2:
            return  # nothing can run out (or nothing to reorder): no extra round trip
        await self._seed(key_id, lines)
        pressure = bp.budget_pressure(lines, await self.ledger.spent(lines))
        if pressure < self._settings.prefer_cheaper_at:
            return
        before = plan.models[0].name

        def cost(model: CatalogModel) -> float:
            return bp.estimate_cost_usd(
                model, inp.messages, inp.params, self._settings.typical_output_tokens
            )

        plan.models = sorted(plan.models, key=cost)  # stable: ties keep the selector's order
        note = (
            f"budget {pressure:.0%} used (>= {self._settings.prefer_cheaper_at:.0%}): "
            f"cheapest first ({plan.models[0].name} before {before})"
        )
        if plan.selection is not None:
            plan.selection = replace(plan.selection, reason=f"{plan.selection.reason}; {note}")

    async def reserve(self, key_id: str | None, model: CatalogModel, inp: ChatInput) -> Reservation:
        """Hold the attempt's estimated cost on every budget; 429/403 budget_exceeded if over.

        When no line has a limit nothing can refuse the attempt: no reservation is made and the
        cost is counted when it is settled (`UncappedHold`).
        """
        lines = self.lines(key_id)
        await self._seed(key_id, lines)
        if bp.uncapped(lines):
            return UncappedHold((), 0, lines)
        await self.flush_uncapped()  # a limit may refuse now: every earlier cost counts first
        estimate = bp.estimate_cost_usd(
            model, inp.messages, inp.params, self._settings.typical_output_tokens
        )
        held = await self.ledger.reserve(lines, estimate)
        if isinstance(held, BudgetDenial):
            record = self._record(key_id)
            raise bp.budget_error(held, record.name if record else key_id or "", self._clock())
        return held

    async def settle(self, hold: Reservation | None, cost_usd: float) -> None:
        """Replace a reservation by the attempt's real cost."""
        if isinstance(hold, UncappedHold):
            if not self._uncapped:  # the first pending cost: the batch goes out in a second
                asyncio.get_running_loop().call_later(UNCAPPED_FLUSH_S, self._flush_later)
            self._uncapped[hold.lines] += to_micro(cost_usd)
        elif hold is not None:
            await self.ledger.reconcile(hold, cost_usd)

    async def release(self, hold: Reservation | None) -> None:
        """Give a failed attempt's reservation back."""
        if hold is not None and not isinstance(hold, UncappedHold):
            await self.ledger.release(hold)

    def _flush_later(self) -> None:
        task = asyncio.get_running_loop().create_task(self.flush_uncapped())
        self._flushes.add(task)
        task.add_done_callback(self._flushed)

    def _flushed(self, task: asyncio.Task[None]) -> None:
        self._flushes.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.warning("budget counting deferred: %s", type(exc).__name__)

    async def flush_uncapped(self) -> None:
        """Count the batched cost of the attempts no budget limited (see `settle`)."""
        if not self._uncapped:
            return
        pending, self._uncapped = self._uncapped, defaultdict(int)
        for lines, micro in pending.items():
            if micro:
                await self.ledger.charge(lines, micro / 1_000_000)

    async def _seed(self, key_id: str | None, lines: Sequence[BudgetLine]) -> None:
        """Start this key's counters from the usage records, once per key and UTC day."""
        now = self._clock()
        # A (key, date) pair, not a formatted label: this runs on every request.
        mark = (key_id, now.astimezone(UTC).date())
        if self._sessions is None or mark in self._seeded:
            return
        day, month = period_start("day", now), period_start("month", now)
        assert day is not None
        assert month is not None
        record = self._record(key_id)
        try:
            async with self._sessions() as session:
                repo = KeyRepository(session)
                spends: list[Spend] = [await repo.key_spend(key_id or "", day, month)]
                if record is not None and record.team is not None:
                    spends.append(await repo.team_spend(record.team, day, month))
                spends.append(await repo.total_spend(day, month))
        except Exception as exc:  # the database down: count from zero, try again next time
            log.warning("budget seeding failed: %s", type(exc).__name__)
            return
        await self.ledger.seed(lines, [value for spend in spends for value in spend])
        self._seeded.add(mark)
