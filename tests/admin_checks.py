"""Shared checks for every app's admin tests: flat changelist query counts, pages load."""

from __future__ import annotations

from typing import Any

from django.test import Client
from django.urls import reverse
from pytest_django import DjangoAssertNumQueries


def admin_url(model: type[Any], view: str, *args: object) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def assert_changelist_queries_flat(
    client: Client, assert_max: DjangoAssertNumQueries, factory: Any, max_queries: int
) -> None:
    """The changelist stays within ``max_queries`` and costs the same with 5 or 15 rows."""
    url = admin_url(factory._meta.model, "changelist")
    factory.create_batch(5)
    with assert_max(max_queries) as with_five:
        assert client.get(url).status_code == 200

    factory.create_batch(10)
    with assert_max(max_queries) as with_fifteen:
        response = client.get(url)

    assert response.status_code == 200
    assert response.context["cl"].result_count == 15
    assert len(with_fifteen) == len(with_five)


def assert_add_and_change_load(client: Client, factory: Any, add_status: int) -> None:
    """The add view answers ``add_status`` (403 for runtime-only rows); a change view loads."""
    obj = factory.create()
    model = factory._meta.model
    assert client.get(admin_url(model, "add")).status_code == add_status
    assert client.get(admin_url(model, "change", obj.pk)).status_code == 200
