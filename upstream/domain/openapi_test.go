package domain

import (
	"encoding/json"
	"testing"
)

func TestOpenAPI(t *testing.T) {
	var doc struct {
		OpenAPI    string                    `json:"openapi"`
		Paths      map[string]map[string]any `json:"paths"`
		Components struct {
			Schemas map[string]struct {
				Properties map[string]any `json:"properties"`
				Required   []string       `json:"required"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(OpenAPI(), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.OpenAPI != "3.1.0" {
		t.Fatalf("openapi %q", doc.OpenAPI)
	}
	for _, res := range resources {
		t.Run(res.name, func(t *testing.T) {
			list, item := doc.Paths["/api/v1/"+res.name], doc.Paths["/api/v1/"+res.name+"/{id}"]
			if list["get"] == nil || item["get"] == nil {
				t.Fatal("read operations missing")
			}
			if (list["post"] == nil) != res.readOnly || (item["patch"] == nil) != res.readOnly || (item["delete"] == nil) != res.readOnly {
				t.Fatal("write operations do not match readOnly")
			}
			s := doc.Components.Schemas[schemaName(res)]
			for _, f := range res.fields {
				if s.Properties[f.name] == nil {
					t.Errorf("schema lacks %s", f.name)
				}
			}
			if s.Properties["password_hash"] != nil {
				t.Error("password_hash documented")
			}
		})
	}
}
