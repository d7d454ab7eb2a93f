package graphql

import (
	"embed"
	"mime"
	"net/http"
	"path"

	"github.com/hubchantier/hubgate/upstream/httpx"
)

//go:generate sh -c "cd graphiql && npm ci --no-audit --no-fund --ignore-scripts && npm run vendor"

// The GraphiQL page: index.html, its two hand-written files (init.js,
// page.css) and the vendored builds of GraphiQL, React and ReactDOM
// (graphiql/assets, made reproducibly by `npm ci && npm run vendor` from
// graphiql/package-lock.json). Everything is embedded and served from
// this endpoint (?asset=name), so the page loads nothing from elsewhere
// and its Content-Security-Policy can forbid every other origin and every
// inline script.
//
//go:embed graphiql/index.html graphiql/init.js graphiql/page.css graphiql/assets/*.js graphiql/assets/*.css
var graphiqlFS embed.FS

// csp is the page's policy: scripts and styles from this origin only (no
// inline script; inline style attributes, which GraphiQL's editor sets),
// requests to this origin only, no framing, no forms, no base.
const csp = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; " +
	"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// serveGraphiQL serves the page (GET without query) or one of its assets
// (?asset=name).
func serveGraphiQL(w http.ResponseWriter, r *http.Request) {
	name := "graphiql/index.html"
	if a := r.URL.Query().Get("asset"); a != "" {
		switch a {
		case "init.js", "page.css":
			name = "graphiql/" + a
		default:
			name = "graphiql/assets/" + path.Base(a)
		}
	}
	b, err := graphiqlFS.ReadFile(name)
	if err != nil {
		httpx.NotFound(w, r, "GraphiQL asset")
		return
	}
	h := w.Header()
	ct := mime.TypeByExtension(path.Ext(name))
	if ct == "" {
		ct = "application/octet-stream"
	}
	h.Set("Content-Type", ct)
	h.Set("Content-Security-Policy", csp)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	if name == "graphiql/index.html" {
		h.Set("Cache-Control", "no-cache")
	} else {
		// The assets change only with the binary.
		h.Set("Cache-Control", "public, max-age=86400")
	}
	_, _ = w.Write(b)
}
