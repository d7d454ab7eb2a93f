-- The audit viewer (developer console, GET /api/v1/admin/audit-logs?api_key_id=)
-- finds the requests of one API key: newest first on its own index, like
-- the user and resource filters.
CREATE INDEX audit_logs_api_key ON audit_logs (api_key_id, ts, id);
