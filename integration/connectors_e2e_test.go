package integration

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hubchantier/hubgate/integration/harness"
	silaestandin "github.com/hubchantier/hubgate/integration/standins/silae"
	slackstandin "github.com/hubchantier/hubgate/integration/standins/slack"
)

// connectorEnv is what the upstream needs to run connectors against
// loopback stand-ins (docs/connectors.md): a key for configurations at
// rest, plain http and private addresses allowed, a fast dispatcher.
func connectorEnv() []string {
	return []string{
		"HUB_CONNECTOR_KEYS=e2e1:" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32)),
		"HUB_CONNECTOR_ALLOW_HTTP=true",
		"HUB_CONNECTOR_ALLOW_PRIVATE=true",
		"HUB_EVENTS_POLL=20ms",
		"HUB_EVENTS_BACKOFF_BASE=50ms",
	}
}

// TestConnectorsE2E: through the real gateway and upstream, an admin
// creates a Slack connector on the Slack stand-in, tests it, and a
// chantier created through the gateway reaches the stand-in as Block Kit;
// a Silae connector's "run now" puts last month's validated pointages as
// XML at the Silae stand-in; the connectors' secrets never appear in an
// answer, in an audit record (their routes carry no request_body_hash),
// in the audit journal, in the logs, or in clear in the SQLite file.
func TestConnectorsE2E(t *testing.T) {
	for _, b := range []backend{{"sqlite", false, false}, {"postgres", true, false}} {
		t.Run(b.name, func(t *testing.T) {
			if testing.Short() {
				t.Skip("end-to-end test skipped in -short mode")
			}
			dir := t.TempDir()
			uo := harness.UpstreamOptions{Secret: harness.NewSecret(), Dir: dir, ExtraEnv: connectorEnv()}
			if b.postgres {
				uo.DSN = postgresURL(t)
			}
			up, err := harness.StartUpstream(uo)
			if err != nil {
				t.Fatal(err)
			}
			s := &stack{t: t, up: up, secret: uo.Secret, client: &http.Client{Timeout: 15 * time.Second}}
			t.Cleanup(func() {
				s.up.Stop()
				if t.Failed() {
					t.Logf("upstream log tail:\n%s", s.up.Tail(3000))
				}
			})
			s.gw, err = harness.StartGateway(harness.GatewayOptions{Upstream: up.Addr, Secret: uo.Secret, Dir: dir,
				ExtraEnv: []string{"HUB_AUDIT_DIR=" + filepath.Join(dir, "audit")}})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				s.gw.Stop()
				if t.Failed() {
					t.Logf("gateway log tail:\n%s", s.gw.Tail(3000))
				}
			})
			s.createUser("admin@hub.test", "admin")
			admin := bearer(s.login("admin@hub.test", "correct-horse-battery"))

			sl := slackstandin.New()
			defer sl.Close()
			sv := silaestandin.New([]string{"M-1"}, []string{"HN", "HNUIT", "HWE"})
			defer sv.Close()
			secrets := []string{sl.WebhookPath, sv.APIKey}
			var rids []string
			call := func(method, path string, body any, want int) map[string]any {
				t.Helper()
				r := s.gwDo(method, path, body, admin...)
				if r.status != want {
					t.Fatalf("%s %s: %d %s, want %d", method, path, r.status, r.body, want)
				}
				for _, sec := range secrets {
					if strings.Contains(string(r.body), sec) || strings.Contains(fmt.Sprint(r.header), sec) {
						t.Fatalf("%s %s: a connector secret is in the answer: %s", method, path, r.body)
					}
				}
				rids = append(rids, r.header.Get("X-Request-Id"))
				var m map[string]any
				_ = json.Unmarshal(r.body, &m)
				return m
			}

			// Slack: create, test connection, an event as Block Kit.
			created := call("POST", "/api/v1/admin/connectors", map[string]any{"type": "slack", "name": "Alertes",
				"config": map[string]any{"webhook_url": sl.WebhookURL()}}, 201)
			createRID := rids[len(rids)-1]
			slackID := created["id"].(string)
			if m := call("POST", "/api/v1/admin/connectors/"+slackID+"/test", nil, 200); m["ok"] != true {
				t.Fatalf("test connection: %v", m)
			}
			call("POST", "/api/v1/chantiers", map[string]any{"nom": "Tour E2E", "adresse": "1 rue du Port"}, 201)
			var msg map[string]any
			eventually(t, 30*time.Second, "the chantier at the Slack stand-in", func() bool {
				for _, m := range sl.Messages() {
					if strings.Contains(fmt.Sprint(m["text"]), "Nouveau chantier Tour E2E") {
						msg = m
						return true
					}
				}
				return false
			})
			blocks, _ := msg["blocks"].([]any)
			if len(blocks) < 2 || blocks[0].(map[string]any)["type"] != "section" || !strings.Contains(fmt.Sprint(blocks), "1 rue du Port") {
				t.Fatalf("not Block Kit: %v", msg)
			}
			call("PATCH", "/api/v1/admin/connectors/"+slackID, map[string]any{"name": "Alertes chantier"}, 200)

			// Silae: a validated pointage of last month, run now, the XML at the stand-in.
			uid := s.userIDOf(admin, "admin@hub.test")
			chantier := call("POST", "/api/v1/chantiers", map[string]any{"nom": "Paie"}, 201)
			now := time.Now().UTC()
			month := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC).AddDate(0, -1, 0)
			day := month.AddDate(0, 0, 2).Format("2006-01-02")
			call("POST", "/api/v1/pointages", map[string]any{"chantier_id": chantier["id"], "user_id": json.Number(uid), "date": day,
				"heures": 7.5, "type": "nuit", "valide": true}, 201)
			silae := call("POST", "/api/v1/admin/connectors", map[string]any{"type": "silae", "name": "Paie",
				"config": map[string]any{"api_url": sv.URL, "api_key": sv.APIKey, "company_code": sv.Company,
					"codes": map[string]any{"normal": "HN", "nuit": "HNUIT", "weekend": "HWE"}, "matricules": map[string]any{uid: "M-1"}}}, 201)
			silaeID := silae["id"].(string)
			if m := call("POST", "/api/v1/admin/connectors/"+silaeID+"/test", nil, 200); m["ok"] != true {
				t.Fatalf("silae test connection: %v", m)
			}
			run := call("POST", "/api/v1/admin/connectors/"+silaeID+"/run", nil, 202)
			eventually(t, 30*time.Second, "the manual Silae sync", func() bool {
				logs := call("GET", "/api/v1/admin/connectors/"+silaeID+"/sync-logs", nil, 200)["data"].([]any)
				l := logs[0].(map[string]any)
				if l["id"] != run["sync_log_id"] {
					t.Fatalf("sync log %v, want id %v", l, run["sync_log_id"])
				}
				if l["status"] == "failed" {
					t.Fatalf("silae sync failed: %v", l)
				}
				return l["status"] == "succeeded" && l["items_sent"] == 1.0
			})
			raw := string(sv.Raw(sv.Company, month.Format("2006-01")))
			if !strings.Contains(raw, `<VariablesPaie societe="HUB01" periode="`+month.Format("2006-01")+`"`) ||
				!strings.Contains(raw, `<Salarie matricule="M-1">`) || !strings.Contains(raw, `<Variable code="HNUIT" date="`+day+`" valeur="7.5">`) {
				t.Fatalf("XML at the stand-in:\n%s", raw)
			}

			// Audit: the connector routes carry no request_body_hash; no
			// record holds a secret.
			eventually(t, 15*time.Second, "the create's audit record", func() bool { return len(s.auditRecords(admin, createRID)) > 0 })
			rec := s.auditRecords(admin, createRID)[0]
			if rec["request_body_hash"] != "" || rec["endpoint"] != "/api/v1/admin/connectors" {
				t.Fatalf("create's audit record: %v", rec)
			}
			for _, rid := range rids[1:] {
				for _, r := range s.auditRecords(admin, rid) {
					js, _ := json.Marshal(r)
					for _, sec := range secrets {
						if strings.Contains(string(js), sec) {
							t.Fatalf("a secret in an audit record: %s", js)
						}
					}
					if ep := fmt.Sprint(r["endpoint"]); strings.Contains(ep, "other") {
						t.Errorf("audit endpoint %q for a connector route", ep)
					}
				}
			}
			// Nothing on disk (logs, audit journal, SQLite file) holds a secret in clear.
			err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
				if err != nil || d.IsDir() {
					return err
				}
				bs, err := os.ReadFile(p)
				if err != nil {
					return err
				}
				for _, sec := range secrets {
					if bytes.Contains(bs, []byte(sec)) {
						t.Errorf("%s holds a connector secret", p)
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}
