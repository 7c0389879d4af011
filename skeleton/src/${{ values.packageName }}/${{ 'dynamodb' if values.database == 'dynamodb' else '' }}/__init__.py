"""DynamoDB access with aioboto3."""
