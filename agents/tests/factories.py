"""factory_boy factories for the agents app's models."""

# factory_boy ships py.typed but its declarations are unannotated.
# mypy: disable-error-code="no-untyped-call"

from __future__ import annotations

from factory.declarations import LazyFunction, Sequence, SubFactory
from factory.django import DjangoModelFactory

from agents.models import Agent, AuthProfileState, CronJob, ModelProvider, RoutingRule, Run, RunStep
from sessions_app.tests.factories import SessionFactory


class AgentFactory(DjangoModelFactory[Agent]):
    class Meta:
        model = Agent

    slug = Sequence(lambda n: f"agent-{n}")
    name = Sequence(lambda n: f"Agent {n}")
    model_primary = "openai/gpt-4o-mini"


class RoutingRuleFactory(DjangoModelFactory[RoutingRule]):
    class Meta:
        model = RoutingRule

    agent = SubFactory(AgentFactory)
    channel = "telegram"
    account_id = Sequence(lambda n: f"acct-{n}")


class RunFactory(DjangoModelFactory[Run]):
    class Meta:
        model = Run

    run_id = Sequence(lambda n: f"run-{n}")
    agent = SubFactory(AgentFactory)
    session = SubFactory(SessionFactory)
    model = "openai/gpt-4o-mini"


class RunStepFactory(DjangoModelFactory[RunStep]):
    class Meta:
        model = RunStep

    run = SubFactory(RunFactory)
    step_no = Sequence(lambda n: n + 1)
    kind = RunStep.Kind.MODEL_CALL
    status = RunStep.Status.DONE


class CronJobFactory(DjangoModelFactory[CronJob]):
    class Meta:
        model = CronJob

    name = Sequence(lambda n: f"job {n}")
    agent = SubFactory(AgentFactory)
    schedule_kind = CronJob.ScheduleKind.EVERY
    every_ms = 60_000
    session_target = CronJob.SessionTarget.ISOLATED
    payload = LazyFunction(lambda: {"kind": "agentTurn", "message": "status report"})


class ModelProviderFactory(DjangoModelFactory[ModelProvider]):
    class Meta:
        model = ModelProvider

    provider = "openai"
    api = ModelProvider.Api.OPENAI_CHAT
    api_key = Sequence(lambda n: f"sk-test-factory-key-{n:06d}")


class AuthProfileStateFactory(DjangoModelFactory[AuthProfileState]):
    class Meta:
        model = AuthProfileState

    profile_id = Sequence(lambda n: f"openai:{n}")
    error_count = 1
