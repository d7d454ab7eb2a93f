package integration

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/hubchantier/hubgate/integration/standins/oidc"
	"github.com/hubchantier/hubgate/internal/testutil"
)

// chromiumPath is Debian's chromium package (.ci/run installs it).
const chromiumPath = "/usr/bin/chromium"

// newBrowser starts a headless Chromium with a fresh profile and returns a
// tab context whose page errors are collected. Without Chromium the test is
// skipped, except on CI (CI=true), where a missing browser is a failure.
func newBrowser(t *testing.T) (context.Context, *pageErrors) {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s missing on CI: .ci/run installs the chromium package", chromiumPath)
		}
		t.Skipf("browser tests skipped: %s not found (apt-get install chromium)", chromiumPath)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1000, 720),
	}
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	errs := &pageErrors{}
	ctx, cancelTab := chromedp.NewContext(actx, chromedp.WithListener(errs.add))
	t.Cleanup(cancelTab)
	// The first Do starts the browser: no timeout on it (it would stop
	// the browser); each step below runs under its own.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx, errs
}

// step runs actions with a generous timeout.
func step(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := chromedp.Do(sctx, steps...); err != nil {
		t.Fatalf("%s: %v\n%s", what, err, whereAmI(ctx))
	}
}

// whereAmI describes the tab for a failure message: its URL and the start
// of its text.
func whereAmI(ctx context.Context) string {
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	loc, _ := chromedp.Run(dctx, chromedp.Location())
	text, _ := chromedp.Run(dctx, chromedp.Evaluate[string](`document.body ? document.body.innerText.slice(0, 600) : ""`))
	return "page " + loc + ":\n" + text
}

// get runs one action that returns a value, with a generous timeout.
func get[T any](t *testing.T, ctx context.Context, a chromedp.Action[T]) T {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	v, err := chromedp.Run(sctx, a)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// pageErrors collects what the browser reports as broken: uncaught
// exceptions, console errors and error log entries (a CSP violation, a
// failed asset).
type pageErrors struct {
	mu   sync.Mutex
	msgs []string
}

func (p *pageErrors) add(ev any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch e := ev.(type) {
	case *runtime.EventExceptionThrown:
		p.msgs = append(p.msgs, "exception: "+e.ExceptionDetails.Text)
	case *runtime.EventConsoleAPICalled:
		if e.Type == runtime.ConsoleAPICalledTypeError {
			p.msgs = append(p.msgs, "console.error")
		}
	case *log.EventEntryAdded:
		// The revoked key's refusals are expected; favicons do not exist.
		if e.Entry.Level == log.EntryLevelError && !strings.Contains(e.Entry.URL, "favicon") &&
			!strings.Contains(e.Entry.Text, "status of 401") {
			p.msgs = append(p.msgs, "log: "+e.Entry.Text+" "+e.Entry.URL)
		}
	}
}

func (p *pageErrors) check(t *testing.T) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.msgs) > 0 {
		t.Errorf("the browser reported errors:\n%s", strings.Join(p.msgs, "\n"))
	}
}

// maskSecrets replaces, on the page, the text of every secret shown once
// (an API key, a webhook signing secret) by its non-secret prefix and
// dots, and returns a script that puts the values back: a screenshot never
// holds a usable secret. CDP's Runtime.evaluate is not the page's script,
// so the page's CSP (no inline script) does not apply to it.
const maskSecrets = `(() => {
  const saved = [];
  document.querySelectorAll('#new-key, #new-secret').forEach(i => {
    saved.push([i.id, i.value]);
    const keep = i.value.startsWith('hbc_') ? i.value.lastIndexOf('_') + 1 : i.value.indexOf('_') + 1;
    i.value = i.value.slice(0, keep) + '•'.repeat(24);
  });
  return JSON.stringify(saved);
})()`

// screenshots says whether the test rewrites docs/console/*.png: only when
// asked (HUB_CONSOLE_SCREENSHOTS=1, docs/console.md), so a test run leaves
// the tree clean.
var screenshots = os.Getenv("HUB_CONSOLE_SCREENSHOTS") == "1"

// shot saves a PNG of the viewport to docs/console/<name>.png, secrets
// masked (maskSecrets), when screenshots are asked for; else it does
// nothing.
func shot(name string) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		if !screenshots {
			return chromedp.Void{}, nil
		}
		saved, err := chromedp.Evaluate[string](maskSecrets)(ctx, tg)
		if err != nil {
			return chromedp.Void{}, err
		}
		// The masked page must hold no secret: not in a value, not in text.
		leak, err := chromedp.Evaluate[bool](`[...document.querySelectorAll('input')].some(i => /^(hbc_[^_]+_[^\u2022]|whsec_[^\u2022])/.test(i.value)) ||
			/whsec_[A-Za-z0-9+\/]{8}|hbc_[a-z0-9]+_[A-Za-z0-9]{8}/.test(document.body.innerText)`)(ctx, tg)
		if err != nil {
			return chromedp.Void{}, err
		}
		if leak {
			return chromedp.Void{}, fmt.Errorf("screenshot %s: a secret is still on the page after masking", name)
		}
		buf, err := chromedp.CaptureScreenshot()(ctx, tg)
		if err != nil {
			return chromedp.Void{}, err
		}
		if _, err := chromedp.Evaluate[any](`(saved => JSON.parse(saved).forEach(([id, v]) => { document.getElementById(id).value = v; }))(`+
			strconv.Quote(saved)+`)`)(ctx, tg); err != nil {
			return chromedp.Void{}, err
		}
		dir := filepath.Join(testutil.RepoRoot(), "docs", "console")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return chromedp.Void{}, err
		}
		return chromedp.Void{}, os.WriteFile(filepath.Join(dir, name+".png"), buf, 0o644)
	}
}

// signIn fills the console's sign-in form.
func signIn(base, email string) chromedp.Action[chromedp.Void] {
	return chromedp.Steps(
		chromedp.Navigate(base+"/console/login"),
		chromedp.WaitVisible(`#email`),
		chromedp.SendKeys(`#email`, email),
		chromedp.SendKeys(`#password`, "correct-horse-battery"),
		chromedp.Click(`//button[normalize-space()="Sign in"]`),
		chromedp.WaitVisible(`//h1[normalize-space()="API keys"]`),
	)
}

func grant(base, name string) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, _ *chromedp.Target) (chromedp.Void, error) {
		_, err := chromedp.CallBrowser(ctx, browser.SetPermission, browser.SetPermissionParams{
			Permission: &browser.PermissionDescriptor{Name: name}, Setting: browser.PermissionSettingGranted, Origin: base})
		return chromedp.Void{}, err
	}
}

// TestConsoleBrowserE2E drives the developer console in headless Chromium
// through the real gateway and upstream: sign in, create a key, copy its
// secret (shown once), see it active, use it with an HTTP client, revoke
// it through the confirmation dialog, see it revoked and refused; then an
// administrator finds the key's request in the audit viewer. Every page
// is screenshotted into docs/console/.
func TestConsoleBrowserE2E(t *testing.T) {
	ctx, errs := newBrowser(t)
	// Webhooks may target the test's loopback receiver, as with make run;
	// "Sign in with Google" goes to the loopback identity provider.
	idp := oidc.New()
	t.Cleanup(idp.Close)
	s := newStackEnv(t, []string{"HUB_WEBHOOK_ALLOW_PRIVATE=true",
		"HUB_CONSOLE_GOOGLE_CLIENT_ID=" + idp.ClientID, "HUB_CONSOLE_GOOGLE_CLIENT_SECRET=" + idp.ClientSecret,
		"HUB_CONSOLE_GOOGLE_URLS=" + idp.URL + "/google/auth " + idp.URL + "/google/token " + idp.URL + "/google/userinfo"})
	rc := newHookReceiver(t)
	s.createUser("root@example.com", "admin")
	s.createUser("dev@example.com", "conducteur")
	base := s.gw.URL
	statusOf := `//tr[td[contains(., "erp-sync")]]//span[contains(@class,"status")]`

	// Anonymous: the start page and the API docs (Swagger UI, vendored).
	step(t, ctx, "anonymous pages",
		chromedp.Navigate(base+"/console/"),
		chromedp.WaitVisible(`//main//a[normalize-space()="Sign in"]`),
		shot("home"),
		chromedp.Navigate(base+"/console/docs"),
		chromedp.WaitVisible(`#swagger-ui .info .title`),
		shot("docs"),
	)
	if title := get(t, ctx, chromedp.Text(`#swagger-ui .info .title`)); !strings.Contains(title, "Hub Chantier") {
		t.Fatalf("the docs page renders %q", title)
	}
	// The docs page links GraphiQL (introspection is on by default), which
	// the gateway serves to a browser without a credential.
	step(t, ctx, "GraphiQL",
		chromedp.Click(`//main//a[normalize-space()="GraphiQL"]`),
		chromedp.WaitVisible(`.graphiql-container`),
		shot("graphiql"),
	)
	if loc := get(t, ctx, chromedp.Location()); loc != base+"/graphql" {
		t.Fatalf("the GraphiQL link leads to %s", loc)
	}
	// Its default Headers must be sendable: a non-Latin-1 placeholder made
	// every fetch fail in the browser before reaching the gateway.
	if text := get(t, ctx, chromedp.Text(`.graphiql-container`)); strings.Contains(text, "ISO-8859-1") {
		t.Fatalf("GraphiQL cannot send its requests: %.300s", text)
	}

	// Sign in and create a key.
	step(t, ctx, "create a key",
		chromedp.Navigate(base+"/console/login"),
		chromedp.WaitVisible(`#email`),
		shot("login"),
		signIn(base, "dev@example.com"),
		chromedp.Click(`//a[normalize-space()="Create key"]`),
		chromedp.WaitVisible(`#name`),
		chromedp.SendKeys(`#name`, "erp-sync"),
		chromedp.SendKeys(`#description`, "nightly export"),
		chromedp.Click(`//label[normalize-space()="chantiers:read"]/input`),
		chromedp.SetValue(`#expires_in_days`, "30"),
		shot("api-key-create"),
		chromedp.Click(`//form//button[normalize-space()="Create key"]`),
		chromedp.WaitVisible(`#new-key`),
		grant(base, "clipboard-read"),
		grant(base, "clipboard-write"),
		chromedp.Click(`//button[normalize-space()="Copy"]`),
		chromedp.WaitVisible(`//span[@id="new-key-status" and contains(., "Copied")]`),
		shot("api-key-created"),
	)
	secret := get(t, ctx, chromedp.Value(`#new-key`))
	copied := get(t, ctx, chromedp.Evaluate[string](`navigator.clipboard.readText()`, chromedp.EvalAwaitPromise))
	if !strings.HasPrefix(secret, "hbc_") || copied != secret {
		t.Fatalf("secret %q, clipboard %q", secret, copied)
	}
	if st := get(t, ctx, chromedp.Text(statusOf)); st != "Active" {
		t.Fatalf("new key's status %q", st)
	}
	keyID := strings.Split(strings.TrimPrefix(secret, "hbc_"), "_")[0]

	// Shown once: the list never shows the secret again.
	step(t, ctx, "list", chromedp.Navigate(base+"/console/api-keys"),
		chromedp.WaitVisible(`//h1[normalize-space()="API keys"]`), shot("api-keys"))
	if html := get(t, ctx, chromedp.OuterHTML(`html`)); strings.Contains(html, secret[len(secret)-20:]) {
		t.Fatal("the secret is on the list page")
	}

	// The key works through the gateway.
	r := s.gwDo("GET", "/api/v1/chantiers", nil, bearer(secret)...)
	if r.status != http.StatusOK {
		t.Fatalf("with the new key: %d %s", r.status, r.body)
	}
	keyRequest := r.header.Get("X-Request-Id")

	// A webhook for api_key.revoked, made in the console: its signing
	// secret is shown once, with Copy.
	step(t, ctx, "create a webhook",
		chromedp.Click(`//nav//a[normalize-space()="Webhooks"]`),
		chromedp.WaitVisible(`//h1[normalize-space()="Webhooks"]`),
		chromedp.Click(`//a[normalize-space()="Add webhook"]`),
		chromedp.WaitVisible(`#url`),
		chromedp.SendKeys(`#url`, rc.URL+"/hooks/hub"),
		chromedp.SendKeys(`#description`, "erp listener"),
		chromedp.Click(`//label[normalize-space()="api_key.revoked"]/input`),
		shot("webhook-create"),
		chromedp.Click(`//form//button[normalize-space()="Add webhook"]`),
		chromedp.WaitVisible(`#new-secret`),
		chromedp.Click(`//button[normalize-space()="Copy"]`),
		chromedp.WaitVisible(`//span[@id="new-secret-status" and contains(., "Copied")]`),
		shot("webhook-created"),
	)
	hookSecret := get(t, ctx, chromedp.Value(`#new-secret`))
	rc.mu.Lock()
	rc.secret = hookSecret // the receiver verifies signatures with the secret the page showed
	rc.mu.Unlock()
	if copied := get(t, ctx, chromedp.Evaluate[string](`navigator.clipboard.readText()`, chromedp.EvalAwaitPromise)); !strings.HasPrefix(hookSecret, "whsec_") || copied != hookSecret {
		t.Fatalf("webhook secret %q, clipboard %q", hookSecret, copied)
	}
	step(t, ctx, "webhooks list", chromedp.Navigate(base+"/console/webhooks"),
		chromedp.WaitVisible(`//td//code[contains(., "/hooks/hub")]`), shot("webhooks"))
	if html := get(t, ctx, chromedp.OuterHTML(`html`)); strings.Contains(html, hookSecret[len(hookSecret)-20:]) {
		t.Fatal("the webhook secret is on the list page")
	}

	// Revoke through the confirmation dialog (its confirm button says Revoke).
	step(t, ctx, "revoke",
		chromedp.Navigate(base+"/console/api-keys"),
		chromedp.Click(`//tr[td[contains(., "erp-sync")]]//a[normalize-space()="Revoke"]`),
		chromedp.WaitVisible(`#revoke-dialog`),
		shot("api-key-revoke-dialog"),
		chromedp.Click(`//dialog[@id="revoke-dialog"]//button[normalize-space()="Revoke"]`),
		chromedp.WaitVisible(`//p[@role="status" and contains(., "was revoked")]`),
		shot("api-key-revoked"),
	)
	if st := get(t, ctx, chromedp.Text(statusOf)); st != "Revoked" {
		t.Fatalf("revoked key's status %q", st)
	}
	// Every gateway hears of the revocation within a second.
	eventually(t, 5*time.Second, "the revoked key is refused", func() bool {
		return s.gwDo("GET", "/api/v1/chantiers", nil, bearer(secret)...).status == http.StatusUnauthorized
	})

	// The revocation is an api_key.revoked event: the webhook receives it,
	// signed with the secret the page showed, and its page lists the
	// delivery; Redeliver sends the same event again.
	eventually(t, 30*time.Second, "the webhook delivery", func() bool { return rc.resources("api_key.revoked")[keyID] })
	delivered := `//tr[@data-delivery and .//span[normalize-space()="Delivered"]]`
	eventually(t, 30*time.Second, "the delivery on the webhook's page", func() bool {
		sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		if err := chromedp.Do(sctx,
			chromedp.Navigate(base+"/console/webhooks"),
			chromedp.Click(`//a[normalize-space()="Deliveries"]`),
			chromedp.WaitVisible(`//h2[normalize-space()="Deliveries"]`),
		); err != nil {
			return false
		}
		n, err := chromedp.Run(sctx, chromedp.Evaluate[int](fmt.Sprintf(
			`document.evaluate(%q, document, null, XPathResult.ORDERED_NODE_SNAPSHOT_TYPE, null).snapshotLength`, delivered)))
		return err == nil && n == 1
	})
	step(t, ctx, "redeliver",
		shot("webhook-deliveries"),
		chromedp.Click(delivered+`//button[normalize-space()="Redeliver"]`),
		chromedp.WaitVisible(`//p[@role="status" and contains(., "queued for delivery again")]`),
	)
	eventually(t, 30*time.Second, "the redelivery", func() bool {
		rc.mu.Lock()
		defer rc.mu.Unlock()
		for _, n := range rc.acked {
			if n == 2 {
				return true
			}
		}
		return false
	})
	rc.mu.Lock()
	if len(rc.bad) > 0 {
		t.Fatalf("the receiver refused deliveries: %v", rc.bad)
	}
	rc.mu.Unlock()
	step(t, ctx, "rotate the webhook secret",
		chromedp.Click(`//button[normalize-space()="Rotate secret"]`),
		chromedp.WaitVisible(`#new-secret`),
	)
	if rotated := get(t, ctx, chromedp.Value(`#new-secret`)); !strings.HasPrefix(rotated, "whsec_") || rotated == hookSecret {
		t.Fatalf("rotated secret %q", rotated)
	}
	step(t, ctx, "delete the webhook",
		chromedp.Click(`//main//a[normalize-space()="Delete"]`),
		chromedp.WaitVisible(`#delete-dialog`),
		shot("webhook-delete-dialog"),
		chromedp.Click(`//dialog[@id="delete-dialog"]//button[normalize-space()="Delete"]`),
		chromedp.WaitVisible(`//p[@role="status" and contains(., "was deleted")]`),
		chromedp.WaitVisible(`//p[contains(., "You have no webhooks yet")]`),
	)

	// The user's other pages.
	step(t, ctx, "user pages",
		chromedp.Navigate(base+"/console/apps"),
		chromedp.WaitVisible(`//h1[normalize-space()="Authorized apps"]`),
		shot("apps"),
		chromedp.Navigate(base+"/console/usage"),
		chromedp.WaitVisible(`svg.chart`),
		shot("usage"),
		chromedp.Click(`//button[normalize-space()="Sign out"]`),
		chromedp.WaitVisible(`#email`),
	)

	// An administrator finds the key's request in the audit viewer (the
	// gateway ships records in the background: poll).
	// The administrator signs in with Google (the stand-in says the
	// address is verified): the flow goes through the gateway both ways.
	idp.SetGoogleUser("root@example.com", true)
	step(t, ctx, "admin sign-in with Google",
		chromedp.Navigate(base+"/console/login"),
		chromedp.Click(`//a[normalize-space()="Sign in with Google"]`),
		chromedp.WaitVisible(`//h1[normalize-space()="API keys"]`),
		chromedp.WaitVisible(`//span[@class="who" and contains(., "root@example.com")]`),
	)
	row := fmt.Sprintf(`//a[@href="/console/admin/audit/%s"]`, keyRequest)
	eventually(t, 30*time.Second, "the key's request in the audit viewer", func() bool {
		sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		if err := chromedp.Do(sctx,
			chromedp.Navigate(base+"/console/admin/audit"),
			chromedp.WaitVisible(`#f-api_key_id`),
			chromedp.SendKeys(`#f-api_key_id`, keyID),
			chromedp.Click(`//button[normalize-space()="Filter"]`),
			// The filtered page (the form's value attribute is the
			// server's echo): the unfiltered one also has a caption and
			// may list the request too, while it is being replaced.
			chromedp.WaitVisible(fmt.Sprintf(`//input[@id="f-api_key_id" and @value=%q]`, keyID)),
		); err != nil {
			return false
		}
		n, err := chromedp.Run(sctx, chromedp.Evaluate[int](fmt.Sprintf(
			`document.evaluate(%q, document, null, XPathResult.ORDERED_NODE_SNAPSHOT_TYPE, null).snapshotLength`, row)))
		return err == nil && n == 1
	})
	step(t, ctx, "audit record",
		shot("admin-audit"),
		chromedp.Click(row),
		chromedp.WaitVisible(`dl.record`),
		shot("admin-audit-record"),
	)
	detail := get(t, ctx, chromedp.Text(`dl.record`))
	for _, want := range []string{keyRequest, keyID, "api_key", "GET /api/v1/chantiers", "200"} {
		if !strings.Contains(detail, want) {
			t.Errorf("the audit record lacks %q:\n%s", want, detail)
		}
	}
	// The console's own actions are attributed: the gateway saw a cookie,
	// the upstream reported the signed-in user, hub_audit recorded it.
	admin := bearer(s.login("root@example.com", "correct-horse-battery"))
	devID := s.userIDOf(admin, "dev@example.com")
	revokePath := "/console/api-keys/" + keyID + "/revoke"
	eventually(t, 30*time.Second, "the console's revoke in the audit trail", func() bool {
		r := s.gwDo("GET", "/api/v1/admin/audit-logs?limit=100", nil, admin...)
		for _, rec := range r.json(t)["data"].([]any) {
			m := rec.(map[string]any)
			if m["path"] == revokePath && m["http_method"] == "POST" {
				if m["attempted_user_id"] != devID || m["status_code"] != float64(http.StatusSeeOther) {
					t.Fatalf("the console's revoke recorded as %v", m)
				}
				return true
			}
		}
		return false
	})

	step(t, ctx, "admin pages",
		chromedp.Navigate(base+"/console/admin/audit"),
		chromedp.Click(`//button[normalize-space()="Verify the chain"]`),
		chromedp.WaitVisible(`#verify-title`),
		chromedp.Navigate(base+"/console/admin/anomalies"),
		chromedp.WaitVisible(`//h1[normalize-space()="Anomalies"]`),
		shot("admin-anomalies"),
		chromedp.Navigate(base+"/console/admin/oauth-clients"),
		chromedp.WaitVisible(`//h1[normalize-space()="OAuth clients"]`),
		shot("admin-oauth-clients"),
		chromedp.Navigate(base+"/console/admin/users"),
		chromedp.WaitVisible(`//h1[normalize-space()="Users and roles"]`),
		shot("admin-users"),
	)
	errs.check(t)
}

// consoleSignIn signs in through the gateway with net/http (a cookie jar,
// the form's CSRF token) and returns the page it lands on.
func consoleSignIn(t *testing.T, s *stack, email, password string) string {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 15 * time.Second}
	resp, err := c.Get(s.gw.URL + "/console/login")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := regexp.MustCompile(`name="csrf_token" value="([^"]+)"`).FindSubmatch(body)
	if m == nil {
		t.Fatalf("no CSRF token on the sign-in page: %.300s", body)
	}
	resp, err = c.PostForm(s.gw.URL+"/console/login", url.Values{"csrf_token": {string(m[1])}, "email": {email}, "password": {password}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ = io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("console sign-in: %d %.300s", resp.StatusCode, body)
	}
	return string(body)
}

// TestConsoleSignInSharesLoginLimit: the console's sign-in form checks a
// password, so through the gateway it draws from the one login bucket of
// POST /api/auth/login and the OAuth form: three API tries and two console
// tries, then the console's sixth attempt is a 429 from the gateway.
func TestConsoleSignInSharesLoginLimit(t *testing.T) {
	s := newRLStack(t, false)
	s.gateway("HUB_LOGIN_RATE_LIMIT=5/hour")
	s.createUser("victim@example.com", "ouvrier")
	for i := 0; i < 3; i++ {
		if r := s.gwDo("POST", "/api/auth/login", map[string]string{"email": "victim@example.com", "password": "guess"}); r.status != 401 {
			t.Fatalf("api login %d: %d %s", i+1, r.status, r.body)
		}
	}
	form := url.Values{"email": {"victim@example.com"}, "password": {"guess"}, "csrf_token": {"x"}}
	for i, want := range []int{http.StatusForbidden, http.StatusForbidden, http.StatusTooManyRequests} {
		// Without a valid CSRF token the upstream refuses the form (403)
		// before checking the password; the gateway counts the attempt
		// all the same, as it cannot tell.
		resp, err := s.client.PostForm(s.gw.URL+"/console/login", form)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("console sign-in %d: %d, want %d", i+1, resp.StatusCode, want)
		}
		if want == http.StatusTooManyRequests && !strings.Contains(resp.Header.Get("RateLimit-Policy"), `"login";q=5;w=3600`) {
			t.Fatalf("console 429 without the login policy: %q", resp.Header.Get("RateLimit-Policy"))
		}
	}
}
