package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hubchantier/hubgate/internal/auditchain"
	"github.com/hubchantier/hubgate/upstream/audit"
	"github.com/hubchantier/hubgate/upstream/db"
)

// TestAuditVerifyCLI: exit 0 on an intact chain, 1 with the first break.
func TestAuditVerifyCLI(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hub.db")
	env := map[string]string{"HUB_DB": path}
	if code, out, _ := runCLI(t, env, "", "audit", "verify"); code != 0 || !strings.Contains(out, "ok: every chain holds") {
		t.Fatalf("empty store: %d %s", code, out)
	}
	d, err := db.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var recs []auditchain.Record
	prev := ""
	for i := 1; i <= 3; i++ {
		r := auditchain.Record{EventID: auditchain.NewEventID(time.Now()), GatewayID: "gw", Seq: int64(i), Timestamp: time.Now(), StatusCode: 200}
		r.Normalize()
		if i == 3 {
			prev = "not the previous hash"
		}
		_ = r.Seal(prev)
		prev = r.Hash
		recs = append(recs, r)
	}
	if _, err := audit.New(d, nil).Insert(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
	code, out, stderr := runCLI(t, env, "", "audit", "verify")
	if code != 1 || !strings.Contains(out, "BROKEN: gateway gw, seq 3") {
		t.Fatalf("broken chain: exit %d, %s", code, out)
	}
	// The error says which record, not only "audit chain broken".
	if !strings.Contains(stderr, "audit chain broken: gateway gw, seq 3") || !strings.Contains(stderr, "prev_hash") {
		t.Fatalf("stderr %q does not name the bad record", stderr)
	}
	// An outside anchor: a chain the store does not hold at all.
	if code, out, _ := runCLI(t, env, "", "audit", "verify", "--expect", "gw-other:4"); code != 1 || !strings.Contains(out, "BROKEN: gateway gw") {
		t.Fatalf("--expect: exit %d, %s", code, out)
	}
	if code, _, _ := runCLI(t, env, "", "audit", "verify", "--expect", "gw"); code != 2 {
		t.Fatalf("bad --expect: exit %d, want 2", code)
	}
	if code, out, _ := runCLI(t, env, "", "audit", "retention"); code != 0 || !strings.Contains(out, "deleted 0 records") {
		t.Fatalf("retention: %d %s", code, out)
	}
	if code, _, _ := runCLI(t, env, "", "audit", "nope"); code != 2 {
		t.Fatalf("unknown subcommand: exit %d", code)
	}
}

// TestAuditBodyHashCLI: a holder of HUB_GATEWAY_SECRET computes the
// recorded request_body_hash of a body, to check it against the trail.
func TestAuditBodyHashCLI(t *testing.T) {
	secret := "test-gateway-secret-of-32-bytes!"
	body := `{"nom":"Chantier A"}`
	code, out, _ := runCLI(t, map[string]string{"HUB_GATEWAY_SECRET": secret}, body, "audit", "body-hash")
	if code != 0 || strings.TrimSpace(out) != auditchain.BodyHash([]byte(secret), []byte(body)) {
		t.Fatalf("body-hash: exit %d, %q", code, out)
	}
	if code, _, _ := runCLI(t, map[string]string{}, body, "audit", "body-hash"); code != 2 {
		t.Fatalf("without the secret: exit %d, want 2", code)
	}
}
