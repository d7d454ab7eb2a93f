package hub

import "testing"

// TestRouteTemplateConnectors: the connector, webhook and key-claim paths
// of configs/hub-routes.json get templates, not "other", so their metrics
// and audit labels stay meaningful.
func TestRouteTemplateConnectors(t *testing.T) {
	checkTemplates(t, hubRoutes(t), map[string]string{
		"/api/v1/admin/connectors":                         "/api/v1/admin/connectors",
		"/api/v1/admin/connectors/0f3c2a9d8e7b":            "/api/v1/admin/connectors/{id}",
		"/api/v1/admin/connectors/0f3c2a9d8e7b/test":       "/api/v1/admin/connectors/{id}/test",
		"/api/v1/admin/connectors/0f3c2a9d8e7b/run":        "/api/v1/admin/connectors/{id}/run",
		"/api/v1/admin/connectors/0f3c2a9d8e7b/sync-logs":  "/api/v1/admin/connectors/{id}/sync-logs",
		"/api/v1/admin/connectors/0f3c2a9d8e7b/deliveries": "/api/v1/admin/connectors/{id}/deliveries",
		"/api/v1/connectors/0f3c2a9d8e7b/inbound":          "/api/v1/connectors/{id}/inbound",
		"/api/auth/api-keys/3t5w5c5shga7/claim":            "/api/auth/api-keys/{id}/claim",
		"/api/v1/admin/api-keys/3t5w5c5shga7/rotate":       "/api/v1/admin/api-keys/{id}/rotate",
	})
}
