package console_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hubchantier/hubgate/upstream/auth"
	"github.com/hubchantier/hubgate/upstream/db"
	"github.com/hubchantier/hubgate/upstream/db/dbtest"
	"github.com/hubchantier/hubgate/upstream/server"
)

// receiver is a loopback webhook endpoint that records what it is sent.
type receiver struct {
	srv *httptest.Server
	mu  sync.Mutex
	got []http.Header
}

func newReceiver(t *testing.T) *receiver {
	rc := &receiver{}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc.mu.Lock()
		rc.got = append(rc.got, r.Header.Clone())
		rc.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) count() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.got)
}

// eventually polls cond for up to 20 s (no duration is asserted).
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

var (
	secretInputRE = regexp.MustCompile(`id="new-secret" type="text" readonly value="(whsec_[^"]+)"`)
	hookRowRE     = regexp.MustCompile(`data-hook="(wh_[0-9a-z]+)"`)
	deliveryRE    = regexp.MustCompile(`data-delivery="([0-9]+)"`)
)

// webhookEnv is the service with the event dispatcher running and
// webhooks allowed to target the loopback receiver.
func webhookEnv(t *testing.T, d *db.DB) *env {
	return newEnv(t, d, func(c *server.Config) {
		c.Dispatch = true
		c.Webhooks.AllowPrivate = true
		c.Events.Poll = 20 * time.Millisecond
	})
}

// TestWebhooksPage: the whole life of a webhook in the console, through
// the same service as the API: the role rule, validation, the secret shown
// once, deliveries of a real event to a loopback receiver, redelivery,
// rotation, ownership and deletion.
func TestWebhooksPage(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := webhookEnv(t, d)
		rc := newReceiver(t)
		ctx := context.Background()

		// An ouvrier may not manage webhooks (the API's matrix): no link, 403.
		if _, err := e.a.CreateUser(ctx, "ouvrier@example.com", password, "Ouv", auth.RoleOuvrier); err != nil {
			t.Fatal(err)
		}
		ob := e.browser()
		if p := ob.signIn("ouvrier@example.com", password); p.status != http.StatusSeeOther {
			t.Fatalf("ouvrier sign-in: %d", p.status)
		}
		if p := ob.do("GET", "/console/api-keys", nil); strings.Contains(p.body, `href="/console/webhooks"`) {
			t.Error("the ouvrier's navigation links the Webhooks page")
		}
		if p := ob.do("GET", "/console/webhooks", nil); p.status != http.StatusForbidden {
			t.Fatalf("ouvrier GET /console/webhooks: %d", p.status)
		}

		b := e.browser()
		b.signIn(e.user.Email, password)
		list := b.do("GET", "/console/webhooks", nil)
		if list.status != 200 || !strings.Contains(list.body, "You have no webhooks yet") ||
			!strings.Contains(list.body, `href="/console/webhooks" aria-current="page"`) {
			t.Fatalf("empty list: %d %.500s", list.status, list.body)
		}
		form := b.do("GET", "/console/webhooks/new", nil)
		tok := csrf(t, form)
		for _, l := range []string{`<label for="url">URL</label>`, `value="api_key.revoked"`, `<legend>Events</legend>`} {
			if !strings.Contains(form.body, l) {
				t.Errorf("form lacks %s", l)
			}
		}

		// CSRF and the API's validation.
		if p := b.do("POST", "/console/webhooks", url.Values{"url": {rc.srv.URL}, "events": {"api_key.revoked"}}); p.status != http.StatusForbidden {
			t.Fatalf("create without CSRF: %d", p.status)
		}
		p := b.do("POST", "/console/webhooks", url.Values{"csrf_token": {tok}, "url": {"ftp://example.com/x"}, "patterns": {"nope.*"}})
		if p.status != http.StatusBadRequest || !strings.Contains(p.body, "URL: url must be an absolute http or https URL") ||
			!strings.Contains(p.body, "Events: ") || !strings.Contains(p.body, `value="nope.*"`) {
			t.Fatalf("invalid create: %d %.2000s", p.status, p.body)
		}

		// Created: the secret is on this answer only.
		p = b.do("POST", "/console/webhooks", url.Values{"csrf_token": {tok}, "url": {rc.srv.URL + "/hook"},
			"description": {"ci"}, "events": {"api_key.revoked"}})
		m := secretInputRE.FindStringSubmatch(p.body)
		if p.status != http.StatusCreated || m == nil || !strings.Contains(p.body, "it will not be shown again") ||
			p.header.Get("Cache-Control") != "no-store" {
			t.Fatalf("create: %d %q %.1500s", p.status, p.header.Get("Cache-Control"), p.body)
		}
		first := m[1]
		hm := hookRowRE.FindStringSubmatch(p.body)
		if hm == nil {
			t.Fatal("the new webhook is not listed")
		}
		id := hm[1]
		if again := b.do("GET", "/console/webhooks", nil); strings.Contains(again.body, first) || !strings.Contains(again.body, id) {
			t.Fatal("the list shows the secret again, or lacks the webhook")
		}

		// Another user does not see it (404, not 403: ids do not leak).
		ab := e.browser()
		ab.signIn(e.admin.Email, password)
		for _, path := range []string{"/console/webhooks/" + id, "/console/webhooks/" + id + "/delete"} {
			if p := ab.do("GET", path, nil); p.status != http.StatusNotFound {
				t.Fatalf("admin GET %s of another user's webhook: %d", path, p.status)
			}
		}
		if p := ab.do("POST", "/console/webhooks/"+id+"/delete", url.Values{"csrf_token": {csrf(t, ab.do("GET", "/console/webhooks", nil))}}); p.status != http.StatusNotFound {
			t.Fatalf("admin deletes another user's webhook: %d", p.status)
		}

		// A real event: revoking a key in the console emits api_key.revoked.
		kp := b.do("POST", "/console/api-keys", url.Values{"csrf_token": {tok}, "name": {"hooked"}, "scopes": {"read"}, "expires_in_days": {"30"}})
		km := regexp.MustCompile(`data-key="([^"]+)"`).FindStringSubmatch(kp.body)
		if kp.status != http.StatusCreated || km == nil {
			t.Fatalf("create key: %d", kp.status)
		}
		if p := b.do("POST", "/console/api-keys/"+km[1]+"/revoke", url.Values{"csrf_token": {tok}}); p.status != http.StatusSeeOther {
			t.Fatalf("revoke key: %d", p.status)
		}
		eventually(t, "the delivery", func() bool { return rc.count() == 1 })
		var detail page
		eventually(t, "the delivery shown as delivered", func() bool {
			detail = b.do("GET", "/console/webhooks/"+id, nil)
			return strings.Contains(detail.body, "Delivered") && strings.Contains(detail.body, "api_key.revoked")
		})
		if sig := rc.got[0].Get("Webhook-Signature"); !strings.HasPrefix(sig, "v1,") {
			t.Fatalf("delivery signature %q", sig)
		}
		dm := deliveryRE.FindStringSubmatch(detail.body)
		if dm == nil || !strings.Contains(detail.body, "HTTP 204") {
			t.Fatalf("detail: %.3000s", detail.body)
		}

		// Redelivery queues the event again.
		p = b.do("POST", "/console/webhooks/"+id+"/deliveries/"+dm[1]+"/redeliver", url.Values{"csrf_token": {tok}})
		if p.status != http.StatusSeeOther || p.header.Get("Location") != "/console/webhooks/"+id+"?done=redelivered" {
			t.Fatalf("redeliver: %d %s", p.status, p.header.Get("Location"))
		}
		eventually(t, "the redelivery", func() bool { return rc.count() == 2 })
		if p := b.do("POST", "/console/webhooks/"+id+"/deliveries/999999/redeliver", url.Values{"csrf_token": {tok}}); p.status != http.StatusNotFound {
			t.Fatalf("redeliver an unknown delivery: %d", p.status)
		}

		// Rotation: a new secret, shown once; the previous keeps signing.
		p = b.do("POST", "/console/webhooks/"+id+"/rotate", url.Values{"csrf_token": {tok}})
		m = secretInputRE.FindStringSubmatch(p.body)
		if p.status != http.StatusOK || m == nil || m[1] == first || !strings.Contains(p.body, "The previous secret keeps signing too") {
			t.Fatalf("rotate: %d %.1500s", p.status, p.body)
		}

		// Deletion: the confirmation page, then the delete.
		if p := b.do("GET", "/console/webhooks/"+id+"/delete", nil); p.status != 200 || !strings.Contains(p.body, ">Delete</button>") {
			t.Fatalf("confirm page: %d", p.status)
		}
		p = b.do("POST", "/console/webhooks/"+id+"/delete", url.Values{"csrf_token": {tok}})
		if p.status != http.StatusSeeOther || p.header.Get("Location") != "/console/webhooks?done=deleted" {
			t.Fatalf("delete: %d %s", p.status, p.header.Get("Location"))
		}
		if p := b.do("GET", "/console/webhooks?done=deleted", nil); !strings.Contains(p.body, "The webhook was deleted") || strings.Contains(p.body, id) {
			t.Fatalf("after delete: %.1000s", p.body)
		}
		if p := b.do("GET", "/console/webhooks/"+id, nil); p.status != http.StatusNotFound {
			t.Fatalf("deleted webhook: %d", p.status)
		}
	})
}

// TestGraphiQLLink: the API docs page links GraphiQL only when the
// upstream serves it (introspection on).
func TestGraphiQLLink(t *testing.T) {
	d := dbtest.SQLite(t)
	off := newEnv(t, d)
	if p := off.browser().do("GET", "/console/docs", nil); p.status != 200 || strings.Contains(p.body, `href="/graphql"`) {
		t.Fatalf("introspection off: %d, link present: %v", p.status, strings.Contains(p.body, `href="/graphql"`))
	}
	on := newEnv(t, dbtest.SQLite(t), func(c *server.Config) { c.GraphQLIntrospection = true })
	p := on.browser().do("GET", "/console/docs", nil)
	if p.status != 200 || !strings.Contains(p.body, `<a href="/graphql">GraphiQL</a>`) {
		t.Fatalf("introspection on: %d %.1500s", p.status, p.body)
	}
	// The browser test follows the link through the gateway, which lets
	// GET /graphql through as public (integration/console_browser_test.go).
}
