"""DynamoDB access with aioboto3, and the moto server that stands in for it locally."""
