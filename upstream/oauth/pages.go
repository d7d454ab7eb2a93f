package oauth

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"html/template"
	"net/http"
	"strconv"
)

//go:embed templates/*.html
var templateFS embed.FS

var pages = template.Must(template.ParseFS(templateFS, "templates/*.html"))

// pageCSS is the only style of the pages; its hash is allowed by the CSP
// instead of 'unsafe-inline'.
const pageCSS = `body{font-family:system-ui,sans-serif;background:#f4f5f7;margin:0}` +
	`main{max-width:26rem;margin:3rem auto;background:#fff;padding:2rem;border-radius:.5rem;box-shadow:0 1px 4px #0002}` +
	`h1{font-size:1.3rem}label{display:block;margin-top:1rem}` +
	`input[type=email],input[type=password]{width:100%;padding:.5rem;box-sizing:border-box}` +
	`button{margin-top:1.2rem;padding:.6rem 1.2rem;border:0;border-radius:.3rem;background:#1d4ed8;color:#fff}` +
	`button.secondary{background:#6b7280}.error{color:#b91c1c}.note{color:#555;font-size:.9rem}`

// pageCSP allows nothing but the page's own style: no scripts, no frames
// (frame-ancestors 'none' against clickjacking of the consent button,
// RFC 9700 §4.16), no base. form-action is not set: browsers apply it to
// the 303 towards the client's redirect URI as well.
var pageCSP = func() string {
	sum := sha256.Sum256([]byte(pageCSS))
	return "default-src 'none'; style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) +
		"'; frame-ancestors 'none'; base-uri 'none'"
}()

// param is a hidden form field carrying the authorization request.
type param struct{ Name, Value string }

// pageData feeds the templates.
type pageData struct {
	Title       string
	CSS         template.CSS
	Error       string
	ClientName  string
	Email       string
	CSRF        string
	RedirectURI string
	Scopes      []string
	Params      []param
}

// setPageHeaders applies the security headers every HTML page carries.
func setPageHeaders(h http.Header) {
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", pageCSP)
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer") // codes and states must not leak through Referer
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
}

// render executes one page template into a buffer first, so a template
// failure is a clean 500, not half a page.
func (s *Server) render(w http.ResponseWriter, status int, name string, d pageData) {
	d.CSS = template.CSS(pageCSS)
	var buf bytes.Buffer
	if err := pages.ExecuteTemplate(&buf, name, d); err != nil {
		s.log.Error("render page", "page", name, "error", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	setPageHeaders(w.Header())
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// errorPage shows an error to the user without redirecting: used before the
// redirect URI is known to belong to the client (RFC 6749 §4.1.2.1), so an
// attacker cannot bounce users to a URI of their choice.
func (s *Server) errorPage(w http.ResponseWriter, status int, msg string) {
	s.render(w, status, "error.html", pageData{Title: "Authorization error", Error: msg})
}
