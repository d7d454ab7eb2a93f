package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/hubchantier/hubgate/upstream/domain"
)

// TestOpenAPICommand: `hubchantier openapi` prints the served v1 document
// and needs no database (HUB_DB points nowhere usable).
func TestOpenAPICommand(t *testing.T) {
	code, out, errOut := runCLI(t, map[string]string{"HUB_DB": "/nonexistent/dir/hub.db"}, "", "openapi")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if out != string(domain.OpenAPI())+"\n" {
		t.Fatal("output is not domain.OpenAPI() plus a newline")
	}
	var doc struct {
		OpenAPI string         `json:"openapi"`
		Paths   map[string]any `json:"paths"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil || doc.OpenAPI != "3.1.0" || doc.Paths["/api/v1/chantiers"] == nil {
		t.Fatalf("document: %v %q", err, doc.OpenAPI)
	}
	if code, _, errOut := runCLI(t, nil, "", "openapi", "extra"); code != 2 || !strings.Contains(errOut, `unexpected argument "extra"`) {
		t.Fatalf("extra argument: exit %d %s", code, errOut)
	}
}
