package hubetag

import (
	"net/http"
	"testing"
)

func TestPersonal(t *testing.T) {
	for _, c := range []struct {
		hdr  http.Header
		want bool
	}{
		{http.Header{}, false},
		{http.Header{"Cache-Control": {"private, no-cache"}}, false},
		{http.Header{"Cache-Control": {"No-Store"}}, true},
		{http.Header{"Set-Cookie": {"s=1; HttpOnly"}}, true},
	} {
		if got := personal(c.hdr); got != c.want {
			t.Errorf("personal(%v) = %v, want %v", c.hdr, got, c.want)
		}
	}
}
