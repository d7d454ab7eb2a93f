package console_test

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hubchantier/hubgate/internal/auditchain"
	"github.com/hubchantier/hubgate/upstream/audit"
	"github.com/hubchantier/hubgate/upstream/auth"
	"github.com/hubchantier/hubgate/upstream/db"
	"github.com/hubchantier/hubgate/upstream/db/dbtest"
	"github.com/hubchantier/hubgate/upstream/server"
)

// shipRecords stores, as a gateway's audit shipper does, one sealed chain
// of records of userID: for each entry, a request with key at ts answered
// status.
func shipRecords(t *testing.T, d *db.DB, userID int64, recs []struct {
	key    string
	ago    time.Duration
	status int
}) {
	t.Helper()
	now := time.Now()
	out := make([]auditchain.Record, len(recs))
	prev := ""
	for i, x := range recs {
		ts := now.Add(-x.ago)
		r := auditchain.Record{EventID: auditchain.NewEventID(ts), GatewayID: "gw-quota", Seq: int64(i + 1),
			RequestID: fmt.Sprintf("req-quota-%d", i), Timestamp: ts, UserID: strconv.FormatInt(userID, 10), APIKeyID: x.key,
			Action: "list_chantiers", ResourceType: "chantier", HTTPMethod: "GET", Endpoint: "/api/v1/chantiers",
			Path: "/api/v1/chantiers", StatusCode: x.status, LatencyMS: 1, IPAddress: "203.0.113.9", UserAgent: "test"}
		r.Normalize()
		if err := r.Seal(prev); err != nil {
			t.Fatal(err)
		}
		prev, out[i] = r.Hash, r
	}
	if _, err := audit.New(d, []byte("k")).Insert(context.Background(), out); err != nil {
		t.Fatal(err)
	}
}

// TestUsageRemainingQuota: the usage page shows, per active key, its
// limit (the key's own rate_limit, else the gateway default the upstream
// is given) and what is left of it: the key's requests of the trailing
// window that the gateway let through are subtracted; 429s, older
// requests and other keys' requests are not.
func TestUsageRemainingQuota(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d, func(c *server.Config) { c.DefaultRateLimit, c.UserRateLimit = "5/hour", "10/hour" })
		ctx := context.Background()
		uid := strconv.FormatInt(e.user.ID, 10)
		plain, err := e.a.CreateAPIKey(ctx, uid, auth.CreateKeyRequest{Name: "plain", Scopes: []string{"read"}})
		if err != nil {
			t.Fatal(err)
		}
		own, err := e.a.CreateAPIKey(ctx, uid, auth.CreateKeyRequest{Name: "own", Scopes: []string{"read"}, RateLimit: "4/minute"})
		if err != nil {
			t.Fatal(err)
		}
		gone, err := e.a.CreateAPIKey(ctx, uid, auth.CreateKeyRequest{Name: "gone", Scopes: []string{"read"}})
		if err != nil {
			t.Fatal(err)
		}
		if err := e.a.RevokeAPIKey(ctx, gone.ID); err != nil {
			t.Fatal(err)
		}
		type rec = struct {
			key    string
			ago    time.Duration
			status int
		}
		shipRecords(t, d, e.user.ID, []rec{
			{plain.ID, 10 * time.Minute, 200}, {plain.ID, 20 * time.Minute, 404}, {plain.ID, 30 * time.Minute, 200},
			{plain.ID, 5 * time.Minute, 429}, // refused: consumed nothing
			{plain.ID, 2 * time.Hour, 200},   // before the window
			{own.ID, 10 * time.Second, 200},  // in its one-minute window
			{own.ID, 5 * time.Minute, 200},   // outside it
			{"", 1 * time.Minute, 200},       // no key
		})
		b := e.browser()
		b.signIn(e.user.Email, password)
		p := b.do("GET", "/console/usage", nil)
		if p.status != http.StatusOK {
			t.Fatalf("usage: %d", p.status)
		}
		row := func(id string) string {
			m := regexp.MustCompile(`(?s)<tr data-quota="` + regexp.QuoteMeta(id) + `">(.*?)</tr>`).FindStringSubmatch(p.body)
			if m == nil {
				return ""
			}
			return regexp.MustCompile(`<[^>]+>`).ReplaceAllString(m[1], "")
		}
		for id, want := range map[string][]string{
			plain.ID: {"5/hour (gateway default)", "3 in the last hour", "2 of 5"},
			own.ID:   {"4/minute (this key's own)", "1 in the last minute", "3 of 4"},
		} {
			got := row(id)
			for _, w := range want {
				if !strings.Contains(got, w) {
					t.Errorf("quota row of %s lacks %q: %q", id, w, got)
				}
			}
		}
		if row(gone.ID) != "" {
			t.Error("a revoked key has a quota row")
		}
		// The account: every request of the last hour with the user's id
		// but the 429 (3 plain, 2 own, 1 without a key), whatever the key.
		acct := regexp.MustCompile(`<p data-quota="account">(.*?)</p>`).FindStringSubmatch(p.body)
		if acct == nil || !strings.Contains(regexp.MustCompile(`<[^>]+>`).ReplaceAllString(acct[1], ""), "4 of 10 left (10/hour; 6 used in the last hour)") {
			t.Errorf("account quota: %v", acct)
		}
	})
}
