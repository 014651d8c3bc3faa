from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from agents.models import Agent, CronJob, RoutingRule, Run, RunStep
from sessions_app.models import Session

AGENT_TURN = {"kind": "agentTurn", "message": "Summarise the inbox."}


@pytest.fixture
def agent() -> Agent:
    return Agent.objects.create(slug="main", is_default=True)


@pytest.fixture
def run(agent: Agent) -> Run:
    session = Session.objects.create(key="agent:main:main", agent_slug=agent.slug)
    return Run.objects.create(run_id="run-1", agent=agent, session=session)


# --- Agent ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_only_one_agent_can_be_default(agent: Agent) -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        Agent.objects.create(slug="other", is_default=True)


@pytest.mark.django_db
def test_many_agents_can_be_non_default(agent: Agent) -> None:
    Agent.objects.create(slug="one")
    Agent.objects.create(slug="two")

    assert Agent.objects.filter(is_default=False).count() == 2


@pytest.mark.django_db
def test_agent_slug_is_unique(agent: Agent) -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        Agent.objects.create(slug="main")


@pytest.mark.parametrize(
    ("field", "value"),
    [("model_primary", "gpt-4o-mini"), ("model_fallbacks", ["openai/gpt-4o", "claude"])],
)
def test_agent_model_refs_need_a_provider(field: str, value: object) -> None:
    agent = Agent(slug="main", **{field: value})

    with pytest.raises(ValidationError) as excinfo:
        agent.clean()

    assert "is not provider/model" in str(excinfo.value)


def test_agent_tool_lists_must_be_lists_of_strings() -> None:
    agent = Agent(slug="main", tools_allow="exec")

    with pytest.raises(ValidationError) as excinfo:
        agent.clean()

    assert "tools_allow" in excinfo.value.message_dict


@pytest.mark.django_db
def test_valid_agent_passes_full_clean() -> None:
    agent = Agent(
        slug="main",
        model_primary="openai/gpt-4o-mini",
        model_fallbacks=["anthropic/claude-sonnet-4"],
        tools_allow=["exec"],
    )

    agent.full_clean()


# --- RoutingRule ----------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(("peer_kind", "peer_id"), [("direct", ""), ("", "42")])
def test_routing_rule_peer_kind_and_id_go_together(
    agent: Agent, peer_kind: str, peer_id: str
) -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        RoutingRule.objects.create(
            agent=agent, channel="telegram", peer_kind=peer_kind, peer_id=peer_id
        )


@pytest.mark.django_db
def test_routing_rule_with_peer_kind_and_id_is_stored(agent: Agent) -> None:
    rule = RoutingRule.objects.create(
        agent=agent, channel="telegram", peer_kind="direct", peer_id="42"
    )

    assert rule.pk is not None


@pytest.mark.django_db
def test_routing_rule_needs_a_channel(agent: Agent) -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        RoutingRule.objects.create(agent=agent, channel="")


def test_routing_rule_roles_need_a_guild() -> None:
    rule = RoutingRule(channel="discord", roles=["admin"])

    with pytest.raises(ValidationError) as excinfo:
        rule.clean()

    assert "roles" in excinfo.value.message_dict


def test_routing_rule_clean_normalises_the_channel_and_accepts_roles_with_a_guild() -> None:
    rule = RoutingRule(channel=" Discord ", roles=["admin"], guild_id="123")

    rule.clean()

    assert rule.channel == "discord"


# --- Run and RunStep ------------------------------------------------------------------


@pytest.mark.django_db
def test_run_id_is_unique(run: Run) -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        Run.objects.create(run_id=run.run_id, agent=run.agent, session=run.session)


@pytest.mark.django_db
def test_run_cannot_exceed_its_step_limit(run: Run) -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        Run.objects.filter(pk=run.pk).update(step_count=run.max_steps + 1)


@pytest.mark.django_db
def test_run_step_number_is_unique_per_run(run: Run) -> None:
    RunStep.objects.create(run=run, step_no=1, kind=RunStep.Kind.MODEL_CALL)

    with pytest.raises(IntegrityError), transaction.atomic():
        RunStep.objects.create(run=run, step_no=1, kind=RunStep.Kind.MODEL_CALL)


@pytest.mark.django_db
def test_same_step_number_in_another_run_is_fine(run: Run) -> None:
    other = Run.objects.create(run_id="run-2", agent=run.agent, session=run.session)
    RunStep.objects.create(run=run, step_no=1, kind=RunStep.Kind.MODEL_CALL)
    RunStep.objects.create(run=other, step_no=1, kind=RunStep.Kind.MODEL_CALL)

    assert RunStep.objects.filter(step_no=1).count() == 2


@pytest.mark.django_db
def test_tool_call_step_names_its_tool(run: Run) -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        RunStep.objects.create(run=run, step_no=1, kind=RunStep.Kind.TOOL_CALL)

    step = RunStep.objects.create(run=run, step_no=1, kind=RunStep.Kind.TOOL_CALL, tool_name="exec")
    assert step.tool_name == "exec"


# --- CronJob --------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "schedule",
    [
        {"schedule_kind": "at"},
        {"schedule_kind": "every", "every_ms": 999},
        {"schedule_kind": "every"},
        {"schedule_kind": "cron", "cron_expr": ""},
        {"schedule_kind": "cron", "every_ms": 60_000},
        {"schedule_kind": "bogus", "cron_expr": "* * * * *"},
    ],
)
def test_cron_job_schedule_must_match_its_kind(schedule: dict[str, object]) -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        CronJob.objects.create(name="job", payload=AGENT_TURN, **schedule)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "schedule",
    [
        {"schedule_kind": "at", "at": timezone.now() + timedelta(hours=1)},
        {"schedule_kind": "every", "every_ms": 1000},
        {"schedule_kind": "cron", "cron_expr": "0 9 * * 1-5"},
    ],
)
def test_cron_job_with_matching_schedule_is_stored(schedule: dict[str, object]) -> None:
    job = CronJob.objects.create(name="job", payload=AGENT_TURN, **schedule)

    assert job.pk is not None


@pytest.mark.parametrize("expr", ["not a cron", "* * *", "61 * * * *", "* * * * * * *"])
def test_cron_job_rejects_bad_cron_expressions(expr: str) -> None:
    job = CronJob(name="job", schedule_kind="cron", cron_expr=expr, payload=AGENT_TURN)

    with pytest.raises(ValidationError) as excinfo:
        job.clean()

    assert "cron_expr" in excinfo.value.message_dict


@pytest.mark.parametrize("expr", ["0 9 * * 1-5", "30 */5 * * * *"])
def test_cron_job_accepts_five_and_six_field_expressions(expr: str) -> None:
    CronJob(name="job", schedule_kind="cron", cron_expr=expr, payload=AGENT_TURN).clean()


@pytest.mark.parametrize("tz", ["Mars/Olympus", "not a zone", "../etc/passwd"])
def test_cron_job_rejects_unknown_time_zones(tz: str) -> None:
    job = CronJob(
        name="job", schedule_kind="cron", cron_expr="0 9 * * *", tz=tz, payload=AGENT_TURN
    )

    with pytest.raises(ValidationError) as excinfo:
        job.clean()

    assert "tz" in excinfo.value.message_dict


def test_cron_job_accepts_iana_time_zones() -> None:
    CronJob(
        name="job",
        schedule_kind="cron",
        cron_expr="0 9 * * *",
        tz="Europe/Berlin",
        payload=AGENT_TURN,
    ).clean()


@pytest.mark.parametrize(
    ("target", "payload"),
    [
        (CronJob.SessionTarget.MAIN, AGENT_TURN),
        (CronJob.SessionTarget.ISOLATED, {"kind": "systemEvent", "text": "ping"}),
        (CronJob.SessionTarget.ISOLATED, {}),
        (CronJob.SessionTarget.ISOLATED, ["agentTurn"]),
    ],
)
def test_cron_job_payload_kind_must_match_the_session_target(target: str, payload: object) -> None:
    job = CronJob(
        name="job",
        schedule_kind="every",
        every_ms=60_000,
        session_target=target,
        payload=payload,
    )

    with pytest.raises(ValidationError) as excinfo:
        job.clean()

    assert "payload" in excinfo.value.message_dict


def test_main_session_cron_job_takes_a_system_event() -> None:
    CronJob(
        name="job",
        schedule_kind="every",
        every_ms=60_000,
        session_target=CronJob.SessionTarget.MAIN,
        payload={"kind": "systemEvent", "text": "ping"},
    ).clean()
