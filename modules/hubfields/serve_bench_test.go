package hubfields

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/hubchantier/hubgate/internal/testutil"
)

// BenchmarkServeHTTP: hub_fields' paths — no ?fields= (passes through, the
// common case) and a selection applied to a row.
func BenchmarkServeHTTP(b *testing.B) {
	h := newHandler(b)
	var saw string
	next := upstream(http.StatusOK, object, nil, &saw)
	ok := func(want string) func(w *httptest.ResponseRecorder) error {
		return func(w *httptest.ResponseRecorder) error {
			if w.Code != http.StatusOK || (want != "" && w.Body.String() != want) {
				return fmt.Errorf("status %d: %s", w.Code, w.Body)
			}
			return nil
		}
	}
	b.Run("no-selection", func(b *testing.B) {
		testutil.BenchServe(b, h, func(w http.ResponseWriter) *http.Request {
			return testutil.BenchRequest(w, http.MethodGet, "/api/v1/chantiers/1")
		}, next, ok(object))
	})
	b.Run("fields=id,nom", func(b *testing.B) {
		testutil.BenchServe(b, h, func(w http.ResponseWriter) *http.Request {
			return testutil.BenchRequest(w, http.MethodGet, "/api/v1/chantiers/1?fields=id,nom")
		}, next, ok(`{"id":1,"nom":"A"}`))
	})
}
