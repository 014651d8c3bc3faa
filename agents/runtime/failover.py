"""Model failover: which (model, key) to try next, and per-key cooldowns.

OpenClaw's two stages (docs/concepts/model-failover.md): rotate the keys (auth
profiles) of the provider, then fall back to the next model of the chain. A key that
fails with a retriable error (rate limit, overload, 5xx, timeout, a bad key) enters a
cooldown of 1 m → 5 m → 25 m → 1 h (by its consecutive error count, longer if the
provider's ``retry-after`` says so), kept in ``AuthProfileState`` so every worker sees
it. A key in cooldown is not called: ``plan`` leaves it out and reports it, and when
every candidate is cooling down the run loop waits for the first to be usable again,
or fails at once if that is after the run's time limit. A success clears the count.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from agents.models import AuthProfileState
from agents.providers import AuthProfile, ProviderError
from agents.runtime.model_config import profiles_for, split_ref
from core.ttlcache import TTLCache

COOLDOWN_STEPS_S = (60, 300, 1500, 3600)
# A success is written back at most this often per key (one UPDATE, not one per turn).
LAST_USED_WRITE_EVERY_S = 60


@dataclass(frozen=True)
class Attempt:
    model_ref: str
    model: str  # the provider's model id
    profile: AuthProfile
    cooling_until: datetime | None = None
    cooling_reason: str = ""  # the error that put the key in cooldown


@dataclass(frozen=True)
class Plan:
    """The (model, key) pairs to try, in order, and those left out for their cooldown."""

    attempts: list[Attempt]
    cooling: list[Attempt]  # soonest usable first
    models: int  # models of the chain with a key, usable now or not

    @property
    def ready_at(self) -> datetime | None:
        """When the first key left out is usable again (None: none was left out)."""
        return self.cooling[0].cooling_until if self.cooling else None


class NoKeyForModelError(Exception):
    def __init__(self, refs: list[str]) -> None:
        providers = sorted({split_ref(ref)[0] for ref in refs})
        message = (
            f"no key is configured for {', '.join(providers)} (model "
            f"{', '.join(refs)}): set its API key in the environment (e.g. "
            f"{providers[0].upper()}_API_KEY) or add one in the admin (Agents → Model "
            "providers), or choose another model"
        )
        super().__init__(message)
        self.message = message


class AllInCooldownError(NoKeyForModelError):
    """Every key of every model of the chain is in cooldown (raised by ``plan_attempts``)."""

    def __init__(self, plan: Plan) -> None:
        message = cooldown_message(plan)
        Exception.__init__(self, message)
        self.message = message
        self.plan = plan


def utc_text(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def cooldown_message(plan: Plan, *, why: str = "") -> str:
    """Say which keys are cooling down, why, and when the first is usable again."""
    now = timezone.now()
    seen: dict[str, Attempt] = {}
    for attempt in plan.cooling:
        seen.setdefault(attempt.profile.id, attempt)
    keys = "; ".join(
        f"{a.profile.id} until {utc_text(a.cooling_until)}"
        + (f" after {a.cooling_reason}" if a.cooling_reason else "")
        for a in seen.values()
        if a.cooling_until is not None
    )
    models = ", ".join(dict.fromkeys(a.model_ref for a in plan.cooling))
    ready = plan.ready_at or now
    wait = max(0, round((ready - now).total_seconds()))
    text = (
        f"every key for {models} is in cooldown after errors ({keys}); the first is usable "
        f"again at {utc_text(ready)}, in {wait} s"
    )
    if why:
        text += f"; {why}"
    return text + ". Add another key or a fallback model (OPENCLAW_MODEL_FALLBACKS) to go on"


def cooldown_seconds(error_count: int) -> int:
    """1 m, 5 m, 25 m, then 1 h for the 1st, 2nd, 3rd and later consecutive errors."""
    index = min(max(error_count, 1), len(COOLDOWN_STEPS_S)) - 1
    return COOLDOWN_STEPS_S[index]


def plan(model_refs: list[str], *, max_attempts: int) -> Plan:
    """Order the (model, key) pairs to try; leave out the keys in cooldown.

    ``max_attempts`` is raised to the number of models with a usable key if it is
    smaller. Raises ``NoKeyForModelError`` when no model of the chain has any key.
    """
    pairs: list[tuple[str, str, AuthProfile]] = [
        (ref, split_ref(ref)[1], profile)
        for ref in model_refs
        for profile in profiles_for(split_ref(ref)[0])
    ]
    if not pairs:
        raise NoKeyForModelError(model_refs)
    now = timezone.now()
    states = _cooldowns(now)
    order = [Attempt(ref, model, p) for ref, model, p in pairs if p.id not in states]
    cooling = sorted(
        (
            Attempt(ref, model, p, states[p.id][0], states[p.id][1])
            for ref, model, p in pairs
            if p.id in states
        ),
        key=lambda a: a.cooling_until or now,
    )
    # Every model of the chain gets at least one attempt: a provider that is overloaded
    # stays overloaded whichever of its keys is used, so its spare keys must not use up
    # the attempts before the fallbacks had a turn.
    budget = max(max_attempts, len({a.model_ref for a in order}))
    attempts: list[Attempt] = []
    for index, attempt in enumerate(order):
        tried = {a.model_ref for a in attempts}
        untried_later = {a.model_ref for a in order[index + 1 :]} - tried - {attempt.model_ref}
        if attempt.model_ref in tried and len(attempts) + len(untried_later) >= budget:
            continue
        attempts.append(attempt)
        if len(attempts) >= budget:
            break
    return Plan(attempts=attempts, cooling=cooling, models=len({ref for ref, _, _ in pairs}))


def plan_attempts(model_refs: list[str], *, max_attempts: int) -> list[Attempt]:
    """The attempts of ``plan``; raises ``AllInCooldownError`` when there are none."""
    planned = plan(model_refs, max_attempts=max_attempts)
    if not planned.attempts:
        raise AllInCooldownError(planned)
    return planned.attempts


def cooling_until(profile_id: str) -> datetime | None:
    """Until when this key is in cooldown, or None (the cached view, as ``plan``)."""
    state = _cooldowns(timezone.now()).get(profile_id)
    return state[0] if state is not None else None


# Keys in cooldown, read at most every COOLDOWN_CACHE_S per process (plan_attempts runs on
# every model call); this process's own failures and successes clear it at once.
COOLDOWN_CACHE_S = 2.0
_cooldown_cache: TTLCache[None, dict[str, tuple[datetime, str]]] = TTLCache(
    "agents.key_cooldowns", ttl_s=COOLDOWN_CACHE_S, max_entries=1
)

# Keys whose success this process wrote less than LAST_USED_WRITE_EVERY_S ago.
_healthy_at: TTLCache[str, bool] = TTLCache("agents.healthy_keys", ttl_s=LAST_USED_WRITE_EVERY_S)
# Keys known to have their AuthProfileState row (looked up again after an hour).
_known_profiles: TTLCache[str, bool] = TTLCache("agents.known_key_rows", ttl_s=3600.0)


def _cooldowns(now: datetime) -> dict[str, tuple[datetime, str]]:
    """Keys in cooldown: profile id -> (until, the reason of the error behind it)."""
    cached = _cooldown_cache.get(None)
    if cached is not None:
        return {k: v for k, v in cached.items() if v[0] > now}
    rows = {
        profile_id: (until, reason)
        for profile_id, until, reason in AuthProfileState.objects.filter(
            cooldown_until__gt=now
        ).values_list("profile_id", "cooldown_until", "last_error_reason")
        if until is not None
    }
    _cooldown_cache.set(None, rows)
    return rows


def forget_cooldowns() -> None:
    _cooldown_cache.clear()


@transaction.atomic
def record_failure(profile_id: str, error: ProviderError) -> datetime:
    """Count a retriable failure of a key and put it in cooldown; return until when."""
    _healthy_at.discard(profile_id)
    forget_cooldowns()
    now = timezone.now()
    state, _ = AuthProfileState.objects.select_for_update().get_or_create(profile_id=profile_id)
    state.error_count += 1
    seconds = float(cooldown_seconds(state.error_count))
    if error.retry_after_s is not None:
        # The provider's own word on when to come back, within the longest step.
        seconds = min(max(seconds, error.retry_after_s), float(COOLDOWN_STEPS_S[-1]))
    until = now + timedelta(seconds=seconds)
    state.cooldown_until = until
    state.last_error_reason = error.reason
    state.last_error_at = now
    state.save(
        update_fields=[
            "error_count",
            "cooldown_until",
            "last_error_reason",
            "last_error_at",
            "updated_at",
        ]
    )
    transaction.on_commit(forget_cooldowns)
    return until


def record_success(profile_id: str) -> None:
    """Clear a key's error count and note its use (written at most once a minute).

    One UPDATE at most once a minute per key and process (none on the hot path between);
    the row is created the first time a key is used. A failure recorded by this process
    forgets the shortcut, so the next success clears the cooldown at once; one recorded
    by another host is cleared by this host's next write, or expires.
    """
    if _healthy_at.get(profile_id):
        return
    _healthy_at.set(profile_id, True)
    forget_cooldowns()
    now = timezone.now()
    stale = now - timedelta(seconds=LAST_USED_WRITE_EVERY_S)
    updated = (
        AuthProfileState.objects.filter(profile_id=profile_id)
        .filter(Q(error_count__gt=0) | Q(last_used_at__isnull=True) | Q(last_used_at__lt=stale))
        .update(error_count=0, cooldown_until=None, last_used_at=now, updated_at=now)
    )
    if updated or _known_profiles.get(profile_id):
        return
    AuthProfileState.objects.get_or_create(profile_id=profile_id, defaults={"last_used_at": now})
    _known_profiles.set(profile_id, True)
