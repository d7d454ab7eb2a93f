package hubversion

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/hubchantier/hubgate/internal/testutil"
)

// BenchmarkServeHTTP: hub_version's paths — a v1 request (headers only,
// the body untouched) and a v2 request renamed both ways.
func BenchmarkServeHTTP(b *testing.B) {
	h := newHandler(b)
	const obj = `{"id":1,"nom":"A","adresse":"x","date_debut":"2025-03-01","statut":"en_cours"}`
	var got seen
	next := fakeUpstream(http.StatusOK, "application/json", obj, nil, &got)
	ok := func(w *httptest.ResponseRecorder) error {
		if w.Code != http.StatusOK {
			return fmt.Errorf("status %d: %s", w.Code, w.Body)
		}
		return nil
	}
	for _, target := range []string{"/api/v1/chantiers/1", "/api/v2/chantiers/1"} {
		b.Run(target[5:7], func(b *testing.B) {
			testutil.BenchServe(b, h, func(w http.ResponseWriter) *http.Request {
				return testutil.BenchRequest(w, http.MethodGet, target)
			}, next, ok)
		})
	}
}
