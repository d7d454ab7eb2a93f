package auditchain

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func sample(seq int64) Record {
	return Record{
		EventID: NewEventID(time.Unix(1700000000, 0)), GatewayID: "gw-1", Seq: seq, RequestID: "req-1",
		Timestamp: time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.UTC), UserID: "7", APIKeyID: "abc",
		AuthMethod: "api_key", Action: "update_chantier", ResourceType: "chantier", ResourceID: "42",
		HTTPMethod: "PATCH", Endpoint: "/api/v1/chantiers/{id}", Path: "/api/v1/chantiers/42",
		StatusCode: 200, LatencyMS: 1.2345678, IPAddress: "203.0.113.77", UserAgent: "curl/8",
		RequestBodyHash: strings.Repeat("a", 64), Changes: json.RawMessage(`{"after":{"nom":"B"},"before":{"nom":"A"}}`),
	}
}

func TestSealAndCheck(t *testing.T) {
	r := sample(1)
	r.Normalize()
	if err := r.Seal(""); err != nil {
		t.Fatal(err)
	}
	if !r.Check() {
		t.Fatal("sealed record does not check")
	}
	// A JSON round trip (journal → shipper → store) keeps it valid.
	b, _ := json.Marshal(r)
	var back Record
	if err := json.Unmarshal(b, &back); err != nil || !back.Check() {
		t.Fatalf("round trip breaks the hash: %v", err)
	}
	tests := []struct {
		name   string
		mutate func(*Record)
		valid  bool
	}{
		{"anonymized IPv4 keeps the hash", func(r *Record) { r.IPAddress = AnonymizeIP(r.IPAddress) }, true},
		{"IP moved within its /24 is not detected (documented)", func(r *Record) { r.IPAddress = "203.0.113.1" }, true},
		{"IP moved to another network", func(r *Record) { r.IPAddress = "198.51.100.77" }, false},
		{"status changed", func(r *Record) { r.StatusCode = 403 }, false},
		{"user changed", func(r *Record) { r.UserID = "8" }, false},
		{"changes removed", func(r *Record) { r.Changes = nil }, false},
		{"prev hash changed", func(r *Record) { r.PrevHash = "x" }, false},
		{"timestamp moved", func(r *Record) { r.Timestamp = r.Timestamp.Add(time.Microsecond) }, false},
		{"seq changed", func(r *Record) { r.Seq = 2 }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := r
			tt.mutate(&c)
			if c.Check() != tt.valid {
				t.Fatalf("Check() = %v, want %v", !tt.valid, tt.valid)
			}
		})
	}
}

func TestChainLinks(t *testing.T) {
	a, b := sample(1), sample(2)
	a.Normalize()
	b.Normalize()
	_ = a.Seal("")
	_ = b.Seal(a.Hash)
	if b.PrevHash != a.Hash || !b.Check() || a.Hash == b.Hash {
		t.Fatal("b is not linked to a")
	}
}

func TestNormalize(t *testing.T) {
	r := sample(1)
	r.UserAgent = strings.Repeat("é", 400) // 800 bytes
	r.Normalize()
	if len(r.UserAgent) > MaxUserAgent || !strings.HasPrefix(strings.Repeat("é", 400), r.UserAgent) {
		t.Fatalf("user agent not cut on a rune boundary: %d bytes", len(r.UserAgent))
	}
	if r.Timestamp.Nanosecond()%1000 != 0 || r.LatencyMS != 1.235 {
		t.Fatalf("not normalized: %v %v", r.Timestamp, r.LatencyMS)
	}
}

func TestAnonymizeIP(t *testing.T) {
	tests := map[string]string{
		"203.0.113.77":          "203.0.113.0/24",
		"::ffff:203.0.113.77":   "203.0.113.0/24",
		"2001:db8:1234:5678::1": "2001:db8:1234::/48",
		"fe80::1%eth0":          "fe80::/48",
		"203.0.113.0/24":        "203.0.113.0/24",
		"2001:db8:1234::/48":    "2001:db8:1234::/48",
		"10.0.0.0/8":            "",
		"not an ip":             "",
		"":                      "",
	}
	for in, want := range tests {
		if got := AnonymizeIP(in); got != want {
			t.Errorf("AnonymizeIP(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRedact(t *testing.T) {
	in := map[string]any{
		"nom": "A", "password": "hunter2", "client_secret": "s", "api_key": "k", "Authorization": "Bearer x",
		"nested": map[string]any{"access_token": "t", "ok": 1},
		"list":   []any{map[string]any{"password_hash": "h", "x": "y"}},
	}
	b, _ := json.Marshal(Redact(in))
	s := string(b)
	for _, secret := range []string{"hunter2", `"s"`, `"k"`, "Bearer x", `"t"`, `"h"`} {
		if strings.Contains(s, secret) {
			t.Fatalf("secret %s left in %s", secret, s)
		}
	}
	for _, kept := range []string{`"nom":"A"`, `"ok":1`, `"x":"y"`} {
		if !strings.Contains(s, kept) {
			t.Fatalf("%s lost in %s", kept, s)
		}
	}
}

func TestChanges(t *testing.T) {
	before := map[string]any{"id": int64(3), "nom": "A", "budget": 10.5, "version": int64(1), "password": "old"}
	after := map[string]any{"id": int64(3), "nom": "B", "budget": 10.5, "version": int64(2), "password": "new"}
	got, err := DecodeChanges(EncodeChanges(before, after))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"after":{"nom":"B","password":"[REDACTED]","version":2},"before":{"nom":"A","password":"[REDACTED]","version":1}}`
	if string(got) != want {
		t.Fatalf("changes = %s\nwant      %s", got, want)
	}
	del, _ := DecodeChanges(EncodeChanges(before, nil))
	if !strings.Contains(string(del), `"after":null`) || !strings.Contains(string(del), `"budget":10.5`) {
		t.Fatalf("delete changes = %s", del)
	}
	big := map[string]any{"description": strings.Repeat("x", MaxChanges)}
	tr, _ := DecodeChanges(EncodeChanges(map[string]any{}, big))
	if string(tr) != `{"fields":["description"],"truncated":true}` {
		t.Fatalf("oversized changes = %s", tr)
	}
	// The gateway redacts again whatever the upstream sent.
	raw := base64.RawURLEncoding.EncodeToString([]byte(`{"after":{"token":"abc"}}`))
	if got, _ := DecodeChanges(raw); strings.Contains(string(got), "abc") {
		t.Fatalf("gateway did not redact: %s", got)
	}
	for _, bad := range []string{"!!!", base64.RawURLEncoding.EncodeToString([]byte(`[1]`)), base64.RawURLEncoding.EncodeToString([]byte(`{} {}`))} {
		if _, err := DecodeChanges(bad); err == nil {
			t.Errorf("DecodeChanges(%q) accepted", bad)
		}
	}
}

func TestNewEventID(t *testing.T) {
	a, b := NewEventID(time.Unix(1, 0)), NewEventID(time.Unix(2, 0))
	if len(a) != 36 || a[14] != '7' || a >= b {
		t.Fatalf("ids %s %s: not UUIDv7 or not time-ordered", a, b)
	}
}

func FuzzDecodeChanges(f *testing.F) {
	f.Add(EncodeChanges(map[string]any{"a": 1}, map[string]any{"a": 2}))
	f.Add("e30")
	f.Fuzz(func(t *testing.T, h string) {
		out, err := DecodeChanges(h)
		if err == nil && out != nil && !json.Valid(out) {
			t.Fatalf("invalid JSON out: %s", out)
		}
		if len(out) > 2*MaxChanges+1024 {
			t.Fatalf("unbounded output: %d bytes", len(out))
		}
	})
}
