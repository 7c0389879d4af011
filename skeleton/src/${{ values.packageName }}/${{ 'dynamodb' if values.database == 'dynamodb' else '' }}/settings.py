"""Settings of the DynamoDB client and table (``dynamodb.client``)."""

from typing import Literal

from pydantic import BaseModel, Field

from ..core.service_settings import NonEmptyStr


class DynamoDbSettings(BaseModel):
    # DynamoDB; credentials come from the standard AWS chain (role, env, profile).
    dynamodb_table: NonEmptyStr = "${{ values.name }}"
    aws_region: NonEmptyStr = "us-east-1"
    # e.g. http://localhost:8001 for the moto server of docker-compose.yml; None means AWS
    # (locally: a moto server started in process).
    dynamodb_endpoint_url: str | None = None
    # Short timeouts instead of botocore's 60 s; each attempt of a call has them.
    dynamodb_connect_timeout_seconds: float = Field(default=1.0, gt=0)
    dynamodb_read_timeout_seconds: float = Field(default=2.0, gt=0)
    # Attempts per call, the first included; retries back off (and adapt to throttling).
    dynamodb_max_attempts: int = Field(default=3, ge=1, le=10)
    dynamodb_retry_mode: Literal["standard", "adaptive"] = "standard"
