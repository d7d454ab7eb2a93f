// Package domain serves the Hub Chantier domain API under /api/v1:
// chantiers, pointages, documents, signalements and affectations (CRUD),
// users (read-only), planning and stats.
//
// The five CRUD resources and the users listing share one metadata-driven
// repository and handler set: a resource is a table and a list of typed
// fields (resources.go); validation, SQL, JSON, pagination and optimistic
// concurrency are written once.
package domain

import (
	"net/http"
	"time"

	"github.com/hubchantier/hubgate/upstream/authz"
	"github.com/hubchantier/hubgate/upstream/db"
	"github.com/hubchantier/hubgate/upstream/page"
)

// Service holds the domain API's dependencies. It is safe for concurrent use.
type Service struct {
	db      *db.DB
	cursors *page.Codec
	now     func() time.Time
	counts  countCache // count.go
}

// New returns the domain service on d. cursorKey is the HMAC key that signs
// list cursors; instances behind one gateway must share it (an empty key is
// replaced by a random one, valid for this process only).
func New(d *db.DB, cursorKey []byte) *Service {
	return &Service{db: d, cursors: page.NewCodec(cursorKey), now: time.Now}
}

// micros is the current time in the stored form.
func (s *Service) micros() int64 { return db.Micros(s.now()) }

// Register adds the /api/v1 domain routes to mux. Every route is bound to
// a resource and an action of the permission matrix (upstream/authz) and
// checked before its handler runs (guarded); the gateway checks scopes too.
func (s *Service) Register(mux *http.ServeMux) {
	for _, r := range resources {
		base := "/api/v1/" + r.name
		mux.Handle("GET "+base, s.guarded(r, r.name, authz.Read, s.handleList))
		mux.Handle("GET "+base+"/{id}", s.guarded(r, r.name, authz.Read, s.handleGet))
		if r.readOnly {
			continue
		}
		mux.Handle("POST "+base, s.guarded(r, r.name, authz.Create, s.handleCreate))
		mux.Handle("PUT "+base+"/{id}", s.guarded(r, r.name, authz.Update, s.handleReplace))
		mux.Handle("PATCH "+base+"/{id}", s.guarded(r, r.name, authz.Update, s.handlePatch))
		mux.Handle("DELETE "+base+"/{id}", s.guarded(r, r.name, authz.Delete, s.handleDelete))
	}
	mux.Handle("GET /api/v1/planning", s.guarded(affectations, authz.Planning, authz.Read, s.handlePlanning))
	mux.Handle("GET /api/v1/stats", s.guarded(nil, authz.Stats, authz.Read, s.handleStats))
	mux.HandleFunc("GET /api/openapi.json", serveOpenAPI) // openapi.go
}

// handlerFunc is a domain handler bound to a resource.
type handlerFunc func(w http.ResponseWriter, r *http.Request, res *resource)
