"""Admin logins are rate-limited per username and address (django-axes)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from axes.models import AccessAttempt
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

pytestmark = pytest.mark.django_db
PASSWORD = "correct horse battery staple"


@pytest.fixture
def admin_user() -> User:
    return User.objects.create_superuser("boss", "boss@example.com", PASSWORD)


def _login(client: Client, username: str, password: str, **extra: Any) -> Any:
    return client.post(
        "/admin/login/?next=/admin/",
        {"username": username, "password": password, "next": "/admin/"},
        **extra,
    )


def test_five_failures_lock_that_user_from_that_address_even_with_the_right_password(
    admin_user: User, settings: Any
) -> None:
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        response = _login(client, "boss", "wrong")
        assert response.status_code == 200  # the login form again, with its error
    locked = _login(client, "boss", "wrong")
    assert locked.status_code == 429
    assert locked["Retry-After"] == str(15 * 60)
    text = locked.content.decode()
    assert "Too many failed logins" in text
    assert "manage.py axes_reset_username boss" in text
    # The right password does not help while locked.
    assert _login(client, "boss", PASSWORD).status_code == 429


def test_another_address_and_another_user_are_not_locked_out(
    admin_user: User, settings: Any
) -> None:
    User.objects.create_superuser("other", "o@example.com", PASSWORD)
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _login(Client(), "boss", "wrong", REMOTE_ADDR="10.0.0.5")
    assert _login(Client(), "boss", "wrong", REMOTE_ADDR="10.0.0.5").status_code == 429
    # The operator, from another address, still gets in; so does another user.
    assert _login(Client(), "boss", PASSWORD, REMOTE_ADDR="10.0.0.6").status_code == 302
    assert _login(Client(), "other", PASSWORD, REMOTE_ADDR="10.0.0.5").status_code == 302


def test_a_forged_forwarded_for_does_not_move_the_count_to_another_address(
    admin_user: User, settings: Any
) -> None:
    for n in range(settings.AXES_FAILURE_LIMIT):
        # No trusted proxy is configured: the header is anyone's to write, and ignored.
        _login(Client(), "boss", "wrong", HTTP_X_FORWARDED_FOR=f"203.0.113.{n}")
    assert AccessAttempt.objects.get().ip_address == "127.0.0.1"
    response = _login(Client(), "boss", PASSWORD, HTTP_X_FORWARDED_FOR="198.51.100.1")
    assert response.status_code == 429


def test_a_success_clears_the_count_and_the_lockout_ends_after_its_time(
    admin_user: User, settings: Any
) -> None:
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        _login(Client(), "boss", "wrong")
    assert _login(Client(), "boss", PASSWORD).status_code == 302
    assert not AccessAttempt.objects.exists()

    for _ in range(settings.AXES_FAILURE_LIMIT):
        _login(Client(), "boss", "wrong")
    assert _login(Client(), "boss", PASSWORD).status_code == 429
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=16))
    assert _login(Client(), "boss", PASSWORD).status_code == 302
