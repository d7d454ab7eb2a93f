package graphql

import (
	"net/http"
)

// serveGraphiQL serves the GraphiQL page (placeholder until the assets
// are vendored).
func serveGraphiQL(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write([]byte("<!doctype html><title>GraphiQL</title>"))
}
