"""Model provider keys managed in the admin, and each auth profile's usage and cooldown."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models

from agents.models.common import string_list_check
from core.fields import EncryptedTextField
from core.models import BaseModel
from core.validators import openclaw_id_validator


class ModelProvider(BaseModel):
    """A model provider key managed in the admin (an OpenClaw ``api_key`` auth profile).

    Several rows of one provider are several keys, rotated on failure. ``ANTHROPIC_API_KEY``
    and ``OPENAI_API_KEY`` from the environment add one more profile each (``<provider>:env``).
    """

    class Api(models.TextChoices):
        ANTHROPIC = "anthropic-messages", "Anthropic Messages"
        OPENAI_CHAT = "openai-chat", "OpenAI chat completions (or compatible: Ollama, vLLM...)"
        OPENAI_RESPONSES = "openai-responses", "OpenAI Responses"

    provider = models.CharField(
        max_length=64,
        validators=[openclaw_id_validator],
        help_text="The provider part of model refs, e.g. anthropic, openai, ollama.",
    )
    label = models.CharField(max_length=100, blank=True, default="")
    api = models.CharField("wire API", max_length=32, choices=Api.choices)
    base_url = models.URLField(
        "base URL",
        max_length=500,
        blank=True,
        default="",
        help_text="Blank = the vendor's own endpoint. OpenAI-compatible servers: "
        "e.g. http://127.0.0.1:11434/v1 for Ollama.",
    )
    api_key = EncryptedTextField(
        "API key", blank=True, default="", help_text="Stored encrypted; never shown again."
    )
    model_ids = models.JSONField(
        "models",
        default=list,
        blank=True,
        help_text='Model ids this provider serves, listed by models.list, e.g. ["llama3.2"].',
    )
    priority = models.IntegerField(default=0, help_text="Lower is tried first.")
    enabled = models.BooleanField(default=True)

    class Meta:
        ordering = ["provider", "priority", "pk"]
        indexes = [models.Index(fields=["provider", "enabled"], name="modelprovider_provider_idx")]

    def __str__(self) -> str:
        return f"{self.provider}:{self.pk}" + (f" ({self.label})" if self.label else "")

    @property
    def profile_id(self) -> str:
        return f"{self.provider}:{self.pk}"

    def clean(self) -> None:
        string_list_check(self.model_ids, "model_ids")
        if self.api == self.Api.ANTHROPIC and not self.api_key and not self.base_url:
            raise ValidationError({"api_key": "Anthropic needs an API key."})
        if (
            self.api in (self.Api.OPENAI_CHAT, self.Api.OPENAI_RESPONSES)
            and not self.api_key
            and not self.base_url
        ):
            raise ValidationError(
                {"api_key": "Enter an API key, or a base URL for a keyless local server."}
            )


class AuthProfileState(BaseModel):
    """Usage and cooldown of one auth profile (OpenClaw ``usageStats``), shared by workers."""

    profile_id = models.CharField(max_length=100, unique=True)
    error_count = models.PositiveIntegerField(default=0)
    cooldown_until = models.DateTimeField(null=True, blank=True)
    last_error_reason = models.CharField(max_length=32, blank=True, default="")
    last_error_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["profile_id"]

    def __str__(self) -> str:
        return self.profile_id
