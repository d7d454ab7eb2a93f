// Package console is the developer console: server-rendered HTML pages
// under /console/ where a user signs in, manages API keys and authorized
// apps and sees their usage, an administrator reads the audit trail,
// anomalies, OAuth clients and users, and anyone reads the API docs
// (docs/console.md).
//
// The pages are Go templates and a few embedded static files: no build
// step at run time and no network. Browser sessions and CSRF tokens are
// those of the OAuth2 authorization pages (upstream/oauth): one session
// table, one cookie. The pages act through the same services as the JSON
// API (auth.Service, oauth.Server, audit.Store), never through a second
// copy of their rules.
package console

import (
	"bytes"
	"embed"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/hubchantier/hubgate/internal/auditchain"
	"github.com/hubchantier/hubgate/upstream/anomaly"
	"github.com/hubchantier/hubgate/upstream/audit"
	"github.com/hubchantier/hubgate/upstream/auth"
	"github.com/hubchantier/hubgate/upstream/authz"
	"github.com/hubchantier/hubgate/upstream/oauth"
	"github.com/hubchantier/hubgate/upstream/webhooks"
)

// Prefix is where the console is served.
const Prefix = "/console/"

// maxFormBody bounds a form post.
const maxFormBody = 64 << 10

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Deps are the services the pages act through.
type Deps struct {
	// Auth manages users, passwords and API keys.
	Auth *auth.Service
	// OAuth holds browser sessions, CSRF tokens and authorized apps.
	OAuth *oauth.Server
	// Audit reads the audit trail (its gateway secret set, so Verify
	// checks checkpoint signatures).
	Audit *audit.Store
	// Anomalies lists the gateways' detections.
	Anomalies *anomaly.Store
	// Webhooks manages the user's webhook endpoints and their deliveries;
	// nil: no Webhooks page (404).
	Webhooks *webhooks.Service
	// GraphiQL says the GraphiQL explorer is served at GET /graphql
	// (introspection on): the API docs page links it.
	GraphiQL bool
	// DefaultRateLimit is the gateway's per-key default ("1000/hour",
	// "off"; the HUB_RATE_LIMIT the gateway reads): the usage page's
	// remaining quota of a key without its own rate_limit. "" means
	// DefaultRateLimit.
	DefaultRateLimit string
	// UserRateLimit is the gateway's per-user quota across keys and tokens
	// (HUB_USER_RATE_LIMIT, "off" for none); "" means DefaultUserRateLimit.
	UserRateLimit string
	// Providers are the external identity providers of the sign-in page
	// (Google, GitHub; docs/console.md); none: password only.
	Providers []Provider
	// PublicURL is the gateway's external URL (HUB_PUBLIC_URL), the base
	// of the providers' redirect URI; "" means the request's host.
	PublicURL string
	// GatewaySecret seals the acting user into the audit report header
	// (auditchain.SealAccount), so hub_audit attributes console requests.
	GatewaySecret []byte
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives failures (never secrets); nil discards.
	Logger *slog.Logger
}

// Console serves the pages. It is safe for concurrent use.
type Console struct {
	d     Deps
	log   *slog.Logger
	pages map[string]*template.Template
}

// New returns the console over d.
func New(d Deps) *Console {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	return &Console{d: d, log: d.Logger.With("component", "console"), pages: parsePages()}
}

// parsePages parses each page template with the shared layout and the
// partials (templates/_*.html), so every page defines its own "content".
func parsePages() map[string]*template.Template {
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		panic(err)
	}
	out := map[string]*template.Template{}
	for _, n := range names {
		base := n[len("templates/"):]
		if base == "layout.html" || base[0] == '_' {
			continue
		}
		out[base] = template.Must(template.New(base).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/_*.html", n))
	}
	return out
}

// Register adds the console's routes to mux (docs/console.md lists them).
func (c *Console) Register(mux *http.ServeMux) {
	static, _ := fs.Sub(staticFS, "static")
	files := http.StripPrefix(Prefix+"static/", http.FileServer(http.FS(static)))
	mux.Handle("GET "+Prefix+"static/", staticHeaders(files))
	mux.Handle("GET /api-keys", http.RedirectHandler(Prefix+"api-keys", http.StatusMovedPermanently))
	mux.Handle("GET /console", http.RedirectHandler(Prefix, http.StatusMovedPermanently))

	mux.HandleFunc("GET "+Prefix+"{$}", c.page(anyone, c.home))
	mux.HandleFunc("GET "+Prefix+"login", c.loginPage)
	mux.HandleFunc("POST "+Prefix+"login", c.login)
	mux.HandleFunc("GET "+Prefix+"login/{provider}", c.externalStart)
	mux.HandleFunc("GET "+Prefix+"login/{provider}/callback", c.externalCallback)
	mux.HandleFunc("POST "+Prefix+"logout", c.page(signedIn, c.logout))
	mux.HandleFunc("GET "+Prefix+"docs", c.page(anyone, c.docs))

	mux.HandleFunc("GET "+Prefix+"api-keys", c.page(signedIn, c.keys))
	mux.HandleFunc("GET "+Prefix+"api-keys/new", c.page(signedIn, c.newKey))
	mux.HandleFunc("POST "+Prefix+"api-keys", c.page(signedIn, c.createKey))
	mux.HandleFunc("GET "+Prefix+"api-keys/{id}/revoke", c.page(signedIn, c.confirmRevoke))
	mux.HandleFunc("POST "+Prefix+"api-keys/{id}/revoke", c.page(signedIn, c.revokeKey))
	mux.HandleFunc("POST "+Prefix+"api-keys/{id}/rotate", c.page(signedIn, c.rotateKey))
	mux.HandleFunc("GET "+Prefix+"apps", c.page(signedIn, c.apps))
	mux.HandleFunc("POST "+Prefix+"apps/{client_id}/revoke", c.page(signedIn, c.revokeApp))
	mux.HandleFunc("GET "+Prefix+"usage", c.page(signedIn, c.usage))
	mux.HandleFunc("GET "+Prefix+"webhooks", c.page(signedIn, c.hooks))
	mux.HandleFunc("GET "+Prefix+"webhooks/new", c.page(signedIn, c.newHook))
	mux.HandleFunc("POST "+Prefix+"webhooks", c.page(signedIn, c.createHook))
	mux.HandleFunc("GET "+Prefix+"webhooks/{id}", c.page(signedIn, c.hook))
	mux.HandleFunc("POST "+Prefix+"webhooks/{id}/rotate", c.page(signedIn, c.rotateHook))
	mux.HandleFunc("GET "+Prefix+"webhooks/{id}/delete", c.page(signedIn, c.confirmDeleteHook))
	mux.HandleFunc("POST "+Prefix+"webhooks/{id}/delete", c.page(signedIn, c.deleteHook))
	mux.HandleFunc("POST "+Prefix+"webhooks/{id}/deliveries/{delivery}/redeliver", c.page(signedIn, c.redeliver))

	mux.HandleFunc("GET "+Prefix+"admin/audit", c.page(admin, c.auditList))
	mux.HandleFunc("GET "+Prefix+"admin/audit/{request_id}", c.page(admin, c.auditRecord))
	mux.HandleFunc("POST "+Prefix+"admin/audit/verify", c.page(admin, c.auditVerify))
	mux.HandleFunc("GET "+Prefix+"admin/anomalies", c.page(admin, c.anomalies))
	mux.HandleFunc("GET "+Prefix+"admin/oauth-clients", c.page(admin, c.clients))
	mux.HandleFunc("POST "+Prefix+"admin/oauth-clients/{id}/revoke", c.page(admin, c.revokeClient))
	mux.HandleFunc("GET "+Prefix+"admin/users", c.page(admin, c.users))
	mux.HandleFunc("POST "+Prefix+"admin/users/{id}", c.page(admin, c.updateUser))
}

// Access levels of a page.
type access int

const (
	anyone   access = iota // shown signed in or not
	signedIn               // a session; else a redirect to the sign-in page
	admin                  // a session of an administrator (current role); else 403
)

// req is what a page handler knows about its request.
type req struct {
	w    http.ResponseWriter
	r    *http.Request
	user *auth.User // nil when not signed in
	sess string     // the raw session token ("" when not signed in)
}

// page wraps a handler: it loads the session, enforces the access level,
// checks the CSRF token of every POST, and reports the acting user to
// hub_audit.
func (c *Console) page(level access, h func(*req)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		q := &req{w: w, r: r}
		u, sess, err := c.d.OAuth.Session(r.Context(), r)
		switch {
		case err == nil:
			q.user, q.sess = &u, sess
			// hub_audit records this as the request's attempted_user_id:
			// the gateway saw a cookie, not a credential, so only the
			// upstream can say who acted (docs/console.md, "Identity").
			w.Header().Set(auditchain.AccountHeader, auditchain.SealAccount(c.d.GatewaySecret, strconv.FormatInt(u.ID, 10)))
		case !errors.Is(err, oauth.ErrNoSession):
			c.fail(w, r, err)
			return
		}
		if level >= signedIn && q.user == nil {
			if r.Method == http.MethodPost {
				c.message(q, http.StatusForbidden, "Signed out", "Your session ended. Sign in again and retry.")
				return
			}
			http.Redirect(w, r, Prefix+"login?next="+r.URL.EscapedPath(), http.StatusSeeOther)
			return
		}
		if level == admin && q.user.Role != auth.RoleAdmin {
			c.message(q, http.StatusForbidden, "Forbidden", "This page is for administrators.")
			return
		}
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, maxFormBody)
			if err := r.ParseForm(); err != nil {
				c.message(q, http.StatusBadRequest, "Bad request", "The form could not be read.")
				return
			}
			if !c.d.OAuth.CheckSessionCSRF(sess, r.PostForm.Get("csrf_token")) {
				c.message(q, http.StatusForbidden, "Form expired", "The form expired or was not sent from this site. Reload the page and retry.")
				return
			}
		}
		h(q)
	}
}

// view is the data every template gets.
type view struct {
	Title  string
	Nav    string // the current section, for aria-current
	User   *auth.User
	CSRF   string
	Flash  string // a success message
	Error  string // an error message (role=alert)
	Now    time.Time
	Data   any
	Static string
	// Webhooks: the signed-in user may manage webhooks (the nav shows the page).
	Webhooks bool
	// GraphiQL: the GraphiQL explorer is served at /graphql.
	GraphiQL bool
}

// render executes a page into a buffer first, so a template failure is a
// clean 500, not half a page.
func (c *Console) render(q *req, status int, name string, v view) {
	v.User = q.user
	v.GraphiQL = c.d.GraphiQL
	v.Webhooks = q.user != nil && c.d.Webhooks != nil && mayWebhooks(q.user.Role, authz.Read)
	if q.sess != "" {
		v.CSRF = c.d.OAuth.SessionCSRF(q.sess)
	}
	v.Now = c.d.Now().UTC()
	v.Static = Prefix + "static/"
	t, ok := c.pages[name]
	var buf bytes.Buffer
	if !ok {
		c.fail(q.w, q.r, errors.New("no template "+name))
		return
	}
	if err := t.ExecuteTemplate(&buf, "layout", v); err != nil {
		c.fail(q.w, q.r, err)
		return
	}
	setPageHeaders(q.w.Header())
	q.w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	q.w.WriteHeader(status)
	_, _ = q.w.Write(buf.Bytes())
}

// message shows a page with one message.
func (c *Console) message(q *req, status int, title, msg string) {
	c.render(q, status, "message.html", view{Title: title, Error: msg})
}

// fail answers 500 without detail and logs the error.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, err error) {
	c.log.Error("console", "path", r.URL.Path, "error", err)
	setPageHeaders(w.Header())
	w.WriteHeader(http.StatusInternalServerError)
	_, _ = w.Write([]byte("<!DOCTYPE html><title>Error</title><p>The server could not process the request. Try again later.</p>"))
}

// redirect answers 303 to a console path after a POST.
func redirect(q *req, path string) {
	http.Redirect(q.w, q.r, Prefix+path, http.StatusSeeOther)
}
