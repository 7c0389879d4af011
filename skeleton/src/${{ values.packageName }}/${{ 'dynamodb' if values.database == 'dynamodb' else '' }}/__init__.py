"""DynamoDB access with aioboto3: the table design, the client the app shares, and the moto
server that stands in for DynamoDB in local work."""
