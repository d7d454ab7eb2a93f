package hubcache

import "testing"

// TestNormalizeVary lists what the key form of a varied field keeps and
// what it drops (RFC 9111 §4.1).
func TestNormalizeVary(t *testing.T) {
	for _, tt := range []struct {
		name  string
		field string
		lines []string
		want  string
	}{
		{"absent", "accept-encoding", nil, ""},
		{"order and case", "accept-encoding", []string{"GZIP, br"}, "br,gzip"},
		{"several lines are one list", "accept-encoding", []string{"gzip", "br"}, "br,gzip"},
		{"spaces around parameters", "accept-language", []string{"fr ; q=0.5 , en-US"}, "en-us,fr;q=0.5"},
		{"empty members", "accept", []string{"text/html,, application/json"}, "application/json,text/html"},
		{"origin: case only", "origin", []string{"HTTPS://Example.COM"}, "https://example.com"},
		{"other field: case and order kept", "x-flavour", []string{"B, a"}, "B,a"},
		{"quoted commas stay", "x-flavour", []string{`a="x, y" , b`}, `a="x, y",b`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := normalizeVary(tt.field, tt.lines); got != tt.want {
				t.Fatalf("normalizeVary(%q, %q) = %q, want %q", tt.field, tt.lines, got, tt.want)
			}
		})
	}
}
