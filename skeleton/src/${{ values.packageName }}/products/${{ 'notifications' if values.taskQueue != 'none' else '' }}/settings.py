"""Settings of the "product created" notification (the webhook ``delivery`` posts to)."""

from pydantic import BaseModel, SecretStr


class NotificationSettings(BaseModel):
    # Receives a POST for each new product; without it the notification is only logged.
    notification_webhook_url: SecretStr | None = None
