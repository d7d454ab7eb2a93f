package console

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/hubchantier/hubgate/upstream/auth"
)

// signInData feeds the sign-in page.
type signInData struct {
	Email, Next, LoginCSRF string
	// Providers are the external sign-in buttons.
	Providers []Provider
}

// home is the console's start page.
func (c *Console) home(q *req) {
	c.render(q, http.StatusOK, "home.html", view{Title: "Developer console", Nav: "home"})
}

// safeNext keeps a post-sign-in destination inside the console (no open
// redirect: a path under Prefix, no scheme, no host, no backslash).
func safeNext(n string) string {
	u, err := url.Parse(n)
	if err != nil || u.Scheme != "" || u.Host != "" || u.Opaque != "" ||
		!strings.HasPrefix(n, Prefix) || strings.ContainsAny(n, "\\\r\n") {
		return Prefix + "api-keys"
	}
	return n
}

// loginPage is GET /console/login.
func (c *Console) loginPage(w http.ResponseWriter, r *http.Request) {
	q := &req{w: w, r: r}
	if _, _, err := c.d.OAuth.Session(r.Context(), r); err == nil {
		http.Redirect(w, r, safeNext(r.URL.Query().Get("next")), http.StatusSeeOther)
		return
	}
	c.render(q, http.StatusOK, "login.html", view{Title: "Sign in", Nav: "login",
		Data: signInData{Next: safeNext(r.URL.Query().Get("next")), LoginCSRF: c.d.OAuth.SignInCSRF(w, r), Providers: c.d.Providers}})
}

// login is POST /console/login: the same password check, per-account
// throttle and gateway login limit as POST /api/auth/login.
func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	q := &req{w: w, r: r}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBody)
	if err := r.ParseForm(); err != nil {
		c.message(q, http.StatusBadRequest, "Bad request", "The form could not be read.")
		return
	}
	f := r.PostForm
	d := signInData{Email: f.Get("email"), Next: safeNext(f.Get("next")), Providers: c.d.Providers}
	if !c.d.OAuth.CheckSignInCSRF(r, f.Get("csrf_token")) {
		d.LoginCSRF = c.d.OAuth.SignInCSRF(w, r)
		c.render(q, http.StatusForbidden, "login.html", view{Title: "Sign in", Nav: "login", Data: d,
			Error: "The sign-in form expired or was not sent from this site. Try again."})
		return
	}
	_, err := c.d.OAuth.SignIn(w, r, f.Get("email"), f.Get("password"))
	var te *auth.ThrottledError
	switch {
	case err == nil:
		http.Redirect(w, r, d.Next, http.StatusSeeOther)
		return
	case errors.As(err, &te):
		w.Header().Set("Retry-After", strconv.Itoa(te.Seconds()))
		d.LoginCSRF = c.d.OAuth.SignInCSRF(w, r)
		c.render(q, http.StatusTooManyRequests, "login.html", view{Title: "Sign in", Nav: "login", Data: d,
			Error: "Too many failed sign-ins for this account. Try again in " + strconv.Itoa((te.Seconds()+59)/60) + " minute(s)."})
	case errors.Is(err, auth.ErrBadCredentials):
		d.LoginCSRF = c.d.OAuth.SignInCSRF(w, r)
		c.render(q, http.StatusUnauthorized, "login.html", view{Title: "Sign in", Nav: "login", Data: d,
			Error: "Invalid email or password."})
	default:
		c.fail(w, r, err)
	}
}

// logout is POST /console/logout: the session row is deleted, so the
// cookie is worthless even if kept.
func (c *Console) logout(q *req) {
	if err := c.d.OAuth.SignOut(q.w, q.r); err != nil {
		c.fail(q.w, q.r, err)
		return
	}
	http.Redirect(q.w, q.r, Prefix+"login", http.StatusSeeOther)
}

// docs is the API docs page: the OpenAPI documents the gateway serves,
// rendered by the vendored Swagger UI.
func (c *Console) docs(q *req) {
	d := docsData{Version: "v2", Spec: "/api/v2/openapi.json"}
	if q.r.URL.Query().Get("version") == "v1" {
		d = docsData{Version: "v1", Spec: "/api/openapi.json"}
	}
	c.render(q, http.StatusOK, "docs.html", view{Title: "API docs", Nav: "docs", Data: d})
}

// docsData names the OpenAPI document the docs page renders.
type docsData struct{ Version, Spec string }
