"""Handlers, one `async def` per S3 operation, grouped by resource."""
