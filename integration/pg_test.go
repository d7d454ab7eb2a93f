package integration

import (
	"testing"

	"github.com/hubchantier/hubgate/upstream/db/dbtest"
)

// pgSchemaURL returns a URL to a fresh PostgreSQL schema, or skips.
func pgSchemaURL(t *testing.T) string { return dbtest.PostgresURL(t) }
