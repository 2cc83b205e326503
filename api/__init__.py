"""The HTTP API: FastAPI app factory, token auth and RBAC, the audit trail, and one router per resource."""
