package oauth

import (
	"context"
	"net/url"
	"testing"

	"github.com/hubchantier/hubgate/upstream/auth"
	"github.com/hubchantier/hubgate/upstream/db"
	"github.com/hubchantier/hubgate/upstream/db/dbtest"
)

// TestRefreshDeactivatedUser: a deactivated user's refresh token is an
// invalid_grant (RFC 6749 §5.2), not a server error, and no token is issued.
func TestRefreshDeactivatedUser(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		code, verifier := e.publicCode("chantiers:read")
		tr, m := e.token(url.Values{"grant_type": {"authorization_code"}, "code": {code},
			"redirect_uri": {publicRedirect}, "client_id": {e.public.ID}, "code_verifier": {verifier}}, false)
		if tr.status != 200 {
			t.Fatalf("exchange: %d %v", tr.status, m)
		}
		off := false
		if _, err := e.a.UpdateUser(context.Background(), e.user.ID, auth.UserPatch{Active: &off}); err != nil {
			t.Fatal(err)
		}
		tr, m = e.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {m["refresh_token"].(string)}, "client_id": {e.public.ID}}, false)
		if tr.status != 400 || m["error"] != "invalid_grant" || m["access_token"] != nil {
			t.Fatalf("refresh of a deactivated user: %d %v", tr.status, m)
		}
	})
}
