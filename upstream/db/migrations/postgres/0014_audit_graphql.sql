-- Audit trail, issue 14: what a GraphQL request did (operation name,
-- type, root fields, cost), as the gateway's hub_graphql read it; JSON
-- kept as text (its bytes are hashed), NULL for every other request. The
-- append-only guard compares whole rows, so it covers the new column.
ALTER TABLE audit_logs ADD COLUMN graphql TEXT;
