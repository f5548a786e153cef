"""An order service on EventBridge, written with boto3 only (see ../README.md)."""
