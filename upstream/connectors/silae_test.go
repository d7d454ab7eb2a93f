package connectors_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	silaestandin "github.com/hubchantier/hubgate/integration/standins/silae"
	"github.com/hubchantier/hubgate/upstream/connectors"
	"github.com/hubchantier/hubgate/upstream/connectors/silae"
	"github.com/hubchantier/hubgate/upstream/connectors/slack"
	"github.com/hubchantier/hubgate/upstream/db"
	"github.com/hubchantier/hubgate/upstream/db/dbtest"
)

// silaeFixture: the service, users 1 (admin) and 2 (conducteur), a
// chantier, a Silae stand-in that knows matricules "M-2" (user 2) and "1"
// (user 1) and codes HN, HNUIT, HWE, and a Silae connector on it.
func silaeFixture(t *testing.T, d *db.DB, codes map[string]any) (*fixture, *silaestandin.Server, string) {
	t.Helper()
	f := newFixture(t, d, connectors.Options{RetryBase: 10 * time.Millisecond}, 0)
	sv := silaestandin.New([]string{"M-2", "1"}, []string{"HN", "HNUIT", "HWE"})
	t.Cleanup(sv.Close)
	if _, err := d.Exec(context.Background(), `INSERT INTO chantiers (nom, created_at, updated_at) VALUES ('Tour A', 0, 0)`); err != nil {
		t.Fatal(err)
	}
	code, m, _ := f.do(1, "POST", "/api/v1/admin/connectors", map[string]any{"type": "silae", "name": "Paie", "config": map[string]any{
		"api_url": sv.URL, "api_key": sv.APIKey, "company_code": sv.Company, "codes": codes, "matricules": map[string]any{"2": "M-2"}}})
	if code != 201 {
		t.Fatalf("create silae: %d %v", code, m)
	}
	if strings.Contains(mustJSON(m), sv.APIKey) {
		t.Fatalf("the api_key is in the answer: %v", m)
	}
	return f, sv, m["id"].(string)
}

func mustJSON(v any) string {
	b, _ := jsonMarshal(v)
	return string(b)
}

func addPointage(t *testing.T, d *db.DB, user int, date string, h float64, typ string, valid bool) {
	t.Helper()
	if _, err := d.Exec(context.Background(), `INSERT INTO pointages (chantier_id, user_id, date, heures, type, valide, created_at, updated_at)
		VALUES (1, ?, ?, ?, ?, ?, 0, 0)`, user, date, h, typ, valid); err != nil {
		t.Fatal(err)
	}
}

func lastLog(t *testing.T, f *fixture, id string) map[string]any {
	t.Helper()
	code, m, _ := f.do(1, "GET", "/api/v1/admin/connectors/"+id+"/sync-logs", nil)
	logs, _ := m["data"].([]any)
	if code != 200 || len(logs) == 0 {
		t.Fatalf("sync logs: %d %v", code, m)
	}
	return logs[0].(map[string]any)
}

var allCodes = map[string]any{"normal": "HN", "nuit": "HNUIT", "weekend": "HWE"}

// TestSilaeMonthlyExportReplaces: the monthly job of April exports
// March's validated pointages only, types mapped to codes, per employee
// (matricule) and day; a re-run of the month (forced by a failed run, and
// by "run now") replaces the month at Silae, never adds to it.
func TestSilaeMonthlyExportReplaces(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f, sv, id := silaeFixture(t, d, allCodes)
		addPointage(t, d, 2, "2025-03-03", 5, "normal", true)
		addPointage(t, d, 2, "2025-03-03", 2.5, "normal", true) // same day and type: summed
		addPointage(t, d, 2, "2025-03-04", 3, "nuit", true)
		addPointage(t, d, 1, "2025-03-08", 6, "weekend", true)
		addPointage(t, d, 2, "2025-03-05", 8, "normal", false) // not validated
		addPointage(t, d, 2, "2025-02-28", 8, "normal", true)  // February
		addPointage(t, d, 2, "2025-04-01", 8, "normal", true)  // April
		ctx := context.Background()
		now := time.Date(2025, 4, 1, 0, 0, 5, 0, time.UTC)
		if err := f.s.RunJob(ctx, connectors.JobMonthly, "2025-04", now); err != nil {
			t.Fatal(err)
		}
		doc, ok := sv.Import(sv.Company, "2025-03")
		if !ok {
			t.Fatal("nothing imported for 2025-03")
		}
		got := map[string]string{}
		for _, e := range doc.Employees {
			for _, v := range e.Variables {
				got[e.Matricule+" "+v.Code+" "+v.Date] = v.Value
			}
		}
		want := map[string]string{"M-2 HN 2025-03-03": "7.5", "M-2 HNUIT 2025-03-04": "3", "1 HWE 2025-03-08": "6"}
		if len(got) != len(want) {
			t.Fatalf("imported %v, want %v", got, want)
		}
		for k, v := range want {
			if got[k] != v {
				t.Fatalf("imported %v, want %v", got, want)
			}
		}
		for _, h := range sv.Requests() {
			if h.Get("Authorization") != "Bearer "+sv.APIKey {
				t.Fatalf("request without the key: %v", h)
			}
		}
		if l := lastLog(t, f, id); l["status"] != "succeeded" || l["items_sent"] != 3.0 || l["items_failed"] != 0.0 || l["run_key"] != "2025-04" {
			t.Fatalf("sync log: %v", l)
		}
		// The same period again: skipped (already succeeded).
		if err := f.s.RunJob(ctx, connectors.JobMonthly, "2025-04", now); err != nil {
			t.Fatal(err)
		}
		if sv.Puts() != 1 {
			t.Fatalf("%d PUTs after a second run of the period, want 1", sv.Puts())
		}
		// A correction, then "run now" in April: the month is replaced.
		if _, err := d.Exec(ctx, `UPDATE pointages SET heures = 4 WHERE type = 'nuit'`); err != nil {
			t.Fatal(err)
		}
		// "Run now" exports the month before today (its own period).
		runNow(t, f, id)
		today := time.Now().UTC()
		month := time.Date(today.Year(), today.Month(), 1, 0, 0, 0, 0, time.UTC).AddDate(0, -1, 0).Format("2006-01")
		if _, ok := sv.Import(sv.Company, month); !ok {
			t.Fatalf("run now did not export %s", month)
		}
		// The scheduler retries a failed period: March is sent again, with
		// the corrected hours, and replaces what Silae held.
		if _, err := d.Exec(ctx, `UPDATE connector_sync_logs SET status = 'failed' WHERE run_key = '2025-04'`); err != nil {
			t.Fatal(err)
		}
		if err := f.s.RunJob(ctx, connectors.JobMonthly, "2025-04", now); err != nil {
			t.Fatal(err)
		}
		doc, _ = sv.Import(sv.Company, "2025-03")
		n := 0
		for _, e := range doc.Employees {
			for _, v := range e.Variables {
				n++
				if v.Code == "HNUIT" && v.Value != "4" {
					t.Fatalf("re-run did not replace the night hours: %v", v)
				}
			}
		}
		if n != 3 {
			t.Fatalf("after the re-run Silae holds %d lines for March, want 3 (replaced, not added)", n)
		}
		if !strings.Contains(string(sv.Raw(sv.Company, "2025-03")), `<VariablesPaie societe="HUB01" periode="2025-03" source="hubchantier">`) {
			t.Fatalf("xml: %s", sv.Raw(sv.Company, "2025-03"))
		}
	})
}

func runNow(t *testing.T, f *fixture, id string) {
	t.Helper()
	code, m, _ := f.do(1, "POST", "/api/v1/admin/connectors/"+id+"/run", nil)
	if code != 202 {
		t.Fatalf("run now: %d %v", code, m)
	}
	logID := m["sync_log_id"].(float64)
	waitFor(t, "the manual sync", func() bool {
		l := lastLog(t, f, id)
		return l["id"] == logID && l["status"] != "running"
	})
}

// TestSilaeRetries: a 429's Retry-After is honoured (the retry waits at
// least that long, although the backoff base is 10 ms) and 5xx answers
// are retried; the export then succeeds.
func TestSilaeRetries(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f, sv, id := silaeFixture(t, d, allCodes)
		addPointage(t, d, 2, "2025-03-03", 7, "normal", true)
		ctx := context.Background()
		now := time.Date(2025, 4, 1, 0, 0, 5, 0, time.UTC)

		sv.Throttle(1, "1")
		start := time.Now()
		if err := f.s.RunJob(ctx, connectors.JobMonthly, "2025-04", now); err != nil {
			t.Fatal(err)
		}
		if waited := time.Since(start); waited < time.Second {
			t.Fatalf("retried after %s, before the Retry-After of 1 s", waited)
		}
		if _, ok := sv.Import(sv.Company, "2025-03"); !ok || sv.Puts() != 1 {
			t.Fatalf("not imported after a 429: puts %d", sv.Puts())
		}

		sv.Fail(2)
		if err := f.s.RunJob(ctx, connectors.JobMonthly, "2025-05", now.AddDate(0, 1, 0)); err != nil {
			t.Fatalf("two 500s then success: %v", err)
		}
		if sv.Puts() != 2 {
			t.Fatalf("puts %d, want 2", sv.Puts())
		}
		if l := lastLog(t, f, id); l["status"] != "succeeded" {
			t.Fatalf("sync log: %v", l)
		}

		sv.Fail(3) // every attempt fails
		if err := f.s.RunJob(ctx, connectors.JobMonthly, "2025-06", now.AddDate(0, 2, 0)); err == nil {
			t.Fatal("three 500s: no error")
		}
		if l := lastLog(t, f, id); l["status"] != "failed" || !strings.Contains(l["error"].(string), "500") {
			t.Fatalf("sync log after three 500s: %v", l)
		}
	})
}

// TestSilaePartialFailure: lines whose type has no code, and lines Silae
// rejects (unknown matricule), are counted as failed and named in the
// sync log, the others imported; test-connection checks key and company;
// the key never appears in the sync log.
func TestSilaePartialFailure(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f, sv, id := silaeFixture(t, d, map[string]any{"normal": "HN", "nuit": "HNUIT"}) // no weekend code
		if _, err := d.Exec(context.Background(), `INSERT INTO users (email, nom, role, password_hash, created_at, updated_at) VALUES ('o@x.fr', 'o', 'ouvrier', 'x', 0, 0)`); err != nil {
			t.Fatal(err)
		}
		addPointage(t, d, 2, "2025-03-03", 7, "normal", true)
		addPointage(t, d, 2, "2025-03-08", 5, "weekend", true)
		addPointage(t, d, 3, "2025-03-04", 6, "normal", true) // user 3: unknown to Silae
		err := f.s.RunJob(context.Background(), connectors.JobMonthly, "2025-04", time.Date(2025, 4, 1, 0, 0, 5, 0, time.UTC))
		if err == nil {
			t.Fatal("partial failure reported no error")
		}
		l := lastLog(t, f, id)
		msg, _ := l["error"].(string)
		if l["status"] != "failed" || l["items_sent"] != 1.0 || l["items_failed"] != 2.0 ||
			!strings.Contains(msg, "pointage type weekend") || !strings.Contains(msg, "unknown_employee") {
			t.Fatalf("sync log: %v", l)
		}
		if strings.Contains(mustJSON(l), sv.APIKey) {
			t.Fatal("the key is in the sync log")
		}
		if sv.Puts() != 1 {
			t.Fatalf("a permanent refusal was retried: %d PUTs", sv.Puts())
		}
		if code, m, _ := f.do(1, "POST", "/api/v1/admin/connectors/"+id+"/test", nil); code != 200 || m["ok"] != true {
			t.Fatalf("test connection: %d %v", code, m)
		}
		if code, m, _ := f.do(1, "PATCH", "/api/v1/admin/connectors/"+id, map[string]any{"config": map[string]any{"api_key": "wrong"}}); code != 200 {
			t.Fatalf("patch: %d %v", code, m)
		}
		if code, m, _ := f.do(1, "POST", "/api/v1/admin/connectors/"+id+"/test", nil); code != 200 || m["ok"] != false || !strings.Contains(m["error"].(string), "401 invalid_token") {
			t.Fatalf("test connection with a wrong key: %d %v", code, m)
		}
	})
}

// TestSilaeConfigValidation: required fields, code shapes, URL scheme.
func TestSilaeConfigValidation(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, connectors.Options{}, 0)
		base := func() map[string]any {
			return map[string]any{"api_url": "http://127.0.0.1:1", "api_key": "k", "company_code": "C1", "codes": map[string]any{"normal": "HN"}}
		}
		for name, mut := range map[string]func(map[string]any){
			"no codes":        func(c map[string]any) { delete(c, "codes") },
			"bad code":        func(c map[string]any) { c["codes"] = map[string]any{"normal": "H N<"} },
			"no key":          func(c map[string]any) { delete(c, "api_key") },
			"no company":      func(c map[string]any) { c["company_code"] = "" },
			"ftp url":         func(c map[string]any) { c["api_url"] = "ftp://x" },
			"bad matricule":   func(c map[string]any) { c["matricules"] = map[string]any{"abc": "M1"} },
			"unknown field":   func(c map[string]any) { c["password"] = "x" },
			"codes not a map": func(c map[string]any) { c["codes"] = "HN" },
		} {
			c := base()
			mut(c)
			if code, m, _ := f.do(1, "POST", "/api/v1/admin/connectors", map[string]any{"type": "silae", "config": c}); code != 400 && code != 422 {
				t.Errorf("%s: %d %v", name, code, m)
			}
		}
		if code, m, _ := f.do(1, "POST", "/api/v1/admin/connectors", map[string]any{"type": "silae", "config": base()}); code != 201 {
			t.Fatalf("valid config: %d %v", code, m)
		}
	})
}

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }

// TestConnectorURLsRefuseInternalHosts: without HUB_CONNECTOR_ALLOW_PRIVATE,
// a connector may not target loopback, private or metadata addresses
// (the webhooks' SSRF guard, upstream/netguard), even with a configuration
// stored earlier by a service that allowed them.
func TestConnectorURLsRefuseInternalHosts(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		open := newFixture(t, d, connectors.Options{}, 0) // AllowPrivate (stand-ins)
		sv := silaestandin.New([]string{"1"}, []string{"HN"})
		defer sv.Close()
		ring, err := connectors.ParseKeyring("k1:" + key(1))
		if err != nil {
			t.Fatal(err)
		}
		guarded := &fixture{t: t, d: d, mux: http.NewServeMux()}
		guarded.s = connectors.New(d, ring, connectors.NewRegistry(slack.Type, silae.Type), connectors.Options{AllowHTTP: true})
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		guarded.s.Register(guarded.mux, ctx)
		for _, u := range []string{"http://127.0.0.1:9/hook", "http://[::1]/x", "http://169.254.169.254/latest", "http://10.0.0.8/", "http://localhost:8080/"} {
			code, m, _ := guarded.do(1, "POST", "/api/v1/admin/connectors", map[string]any{"type": "slack", "config": map[string]any{"webhook_url": u}})
			if code == 201 || !strings.Contains(mustJSON(m), "internal") || strings.Contains(mustJSON(m), u) {
				t.Fatalf("%s: %d %v", u, code, m)
			}
		}
		// Stored while private targets were allowed, then tested by a
		// guarded service: refused, the stand-in never reached.
		code, m, _ := open.do(1, "POST", "/api/v1/admin/connectors", map[string]any{"type": "silae", "config": map[string]any{
			"api_url": sv.URL, "api_key": sv.APIKey, "company_code": sv.Company, "codes": map[string]any{"normal": "HN"}}})
		if code != 201 {
			t.Fatalf("create: %d %v", code, m)
		}
		code, m, _ = guarded.do(1, "POST", "/api/v1/admin/connectors/"+m["id"].(string)+"/test", nil)
		if code == 200 && m["ok"] == true {
			t.Fatalf("a guarded service reached a loopback stand-in: %v", m)
		}
		if len(sv.Requests()) != 0 {
			t.Fatalf("the stand-in was reached %d times", len(sv.Requests()))
		}
	})
}
