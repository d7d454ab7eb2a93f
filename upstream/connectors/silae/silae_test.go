package silae

import (
	"encoding/json"
	"encoding/xml"
	"strings"
	"testing"

	"github.com/hubchantier/hubgate/upstream/connectors"
)

// FuzzParse: whatever configuration an administrator sends, validation
// never panics, and an accepted one has a key, a company code and codes
// that cannot break out of the XML attributes they are written into.
func FuzzParse(f *testing.F) {
	f.Add(`{"api_url":"https://silae.example/api","api_key":"k","company_code":"C1","codes":{"normal":"HN"}}`)
	f.Add(`{"api_url":"http://127.0.0.1/","api_key":"k","company_code":"C1","codes":{"nuit":"H\"N"},"matricules":{"2":"M-2"}}`)
	f.Add(`{"codes":[],"matricules":null}`)
	f.Add(`not json`)
	env := connectors.Env{}
	f.Fuzz(func(t *testing.T, raw string) {
		var cfg map[string]any
		if json.Unmarshal([]byte(raw), &cfg) != nil {
			return
		}
		c, err := parse(cfg, env)
		if err != nil {
			return
		}
		if c.apiKey == "" || !codeRe.MatchString(c.company) || len(c.codes) == 0 || !strings.HasPrefix(strings.ToLower(c.apiURL), "https://") {
			t.Fatalf("accepted %q: %+v", raw, c)
		}
		doc := Document{Company: c.company, Period: "2025-03"}
		for _, code := range c.codes {
			doc.Employees = append(doc.Employees, Employee{Matricule: "1", Variables: []Variable{{Code: code, Date: "2025-03-01", Value: "1"}}})
		}
		b, err := xml.Marshal(doc)
		if err != nil {
			t.Fatal(err)
		}
		var back Document
		if err := xml.Unmarshal(b, &back); err != nil || back.Company != c.company || len(back.Employees) != len(c.codes) {
			t.Fatalf("XML round trip of %q: %v %s", raw, err, b)
		}
	})
}
