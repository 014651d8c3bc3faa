"""Admin of the sessions app: flat query counts, transcripts linked rather than inlined."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from pytest_django import DjangoAssertNumQueries

from sessions_app.models import Message, Session
from sessions_app.tests.factories import MessageFactory, SessionFactory
from tests.admin_checks import admin_url, assert_add_and_change_load, assert_changelist_queries_flat

pytestmark = pytest.mark.django_db


_url = admin_url


@pytest.mark.parametrize(
    ("factory", "max_queries"),
    [
        pytest.param(SessionFactory, 7, id="session"),
        pytest.param(MessageFactory, 4, id="message"),
    ],
)
def test_changelist_query_count_is_bounded_and_does_not_grow_with_rows(
    admin_client: Client,
    django_assert_max_num_queries: DjangoAssertNumQueries,
    factory: Any,
    max_queries: int,
) -> None:
    assert_changelist_queries_flat(
        admin_client, django_assert_max_num_queries, factory, max_queries
    )


@pytest.mark.parametrize(
    ("factory", "add_status"),
    [
        # Sessions and transcript entries are written by the runtime only.
        pytest.param(SessionFactory, 403, id="session"),
        pytest.param(MessageFactory, 403, id="message"),
    ],
)
def test_add_and_change_views_load(admin_client: Client, factory: Any, add_status: int) -> None:
    assert_add_and_change_load(admin_client, factory, add_status)


def test_session_page_links_to_its_transcript_instead_of_inlining_it(
    admin_client: Client,
) -> None:
    session = SessionFactory.create(last_seq=3)
    for seq in (1, 2, 3):
        MessageFactory.create(session=session, seq=seq)
    MessageFactory.create()  # another session's message

    page = admin_client.get(_url(Session, "change", session.pk)).content.decode()
    link = f"{_url(Message, 'changelist')}?session__id__exact={session.pk}"

    assert link in page
    assert "messages-TOTAL_FORMS" not in page
    transcript = admin_client.get(link)
    assert transcript.status_code == 200
    assert sorted(m.seq for m in transcript.context["cl"].result_list) == [1, 2, 3]


def test_message_search_by_session_key(admin_client: Client) -> None:
    session = SessionFactory.create(key="agent:main:telegram:direct:4242")
    MessageFactory.create(session=session, seq=1)
    MessageFactory.create()

    response = admin_client.get(_url(Message, "changelist"), {"q": session.key})

    assert [m.session_id for m in response.context["cl"].result_list] == [session.pk]


def test_session_counters_are_not_editable(admin_client: Client) -> None:
    session = SessionFactory.create(total_tokens=100, last_seq=7)

    page = admin_client.get(_url(Session, "change", session.pk)).content.decode()

    assert 'name="total_tokens"' not in page
    assert 'name="last_seq"' not in page
    assert 'name="key"' in page


def test_a_transcript_reads_like_a_chat(admin_client: Client) -> None:
    from sessions_app.services import session_message_append

    session = SessionFactory.create()
    session_message_append(
        session=session, role="user", content=[{"type": "text", "text": "hi <b>"}]
    )
    session_message_append(
        session=session,
        role="assistant",
        content=[
            {"type": "text", "text": "let me look"},
            {"type": "toolCall", "id": "c1", "name": "ls", "arguments": {"path": "."}},
        ],
        model="openai/gpt-4o-mini",
    )
    url = f"/admin/sessions_app/session/{session.pk}/transcript/"
    change = admin_client.get(_url(Session, "change", session.pk)).content.decode()
    assert url in change

    html = admin_client.get(url).content.decode()
    assert 'class="bubble user"' in html
    assert "hi &lt;b&gt;" in html  # escaped, never rendered
    assert 'class="bubble assistant"' in html
    assert "let me look" in html
    assert "ls({&quot;path&quot;: &quot;.&quot;})" in html
    assert "openai/gpt-4o-mini" in html
    assert html.index("hi &lt;b&gt;") < html.index("let me look")  # oldest first


def test_the_transcript_needs_view_permission(client: Client) -> None:
    from django.contrib.auth.models import User

    session = SessionFactory.create()
    client.force_login(User.objects.create_user("nobody", password="x" * 20, is_staff=True))
    assert client.get(f"/admin/sessions_app/session/{session.pk}/transcript/").status_code == 403
