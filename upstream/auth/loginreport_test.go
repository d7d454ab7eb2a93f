package auth

import (
	"strconv"
	"testing"

	"github.com/hubchantier/hubgate/internal/auditchain"
	"github.com/hubchantier/hubgate/upstream/db"
	"github.com/hubchantier/hubgate/upstream/db/dbtest"
)

// TestLoginReportsAccount: every login answer carries the sealed account
// report hub_audit records (issue 10): the user id on success and on a
// wrong password, nothing for an unknown email — and the header of an
// unknown email looks like any other (same length, opaque).
func TestLoginReportsAccount(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		admin := strconv.FormatInt(e.users[RoleAdmin].ID, 10)
		tests := []struct {
			name, email, password string
			status                int
			want                  string
		}{
			{"success", "admin@example.test", "password-admin", 200, admin},
			{"wrong password", "Admin@Example.test", "not-the-password", 401, admin},
			{"unknown email", "nobody@example.test", "password-admin", 401, ""},
		}
		var lengths []int
		for _, tt := range tests {
			r := login(t, e, tt.email, tt.password)
			expect(t, r, tt.status)
			v := r.Header.Get(auditchain.AccountHeader)
			if v == "" {
				t.Fatalf("%s: no %s header", tt.name, auditchain.AccountHeader)
			}
			got, err := auditchain.OpenAccount(testSecret, v)
			if err != nil || got != tt.want {
				t.Fatalf("%s: account %q, %v; want %q", tt.name, got, err, tt.want)
			}
			lengths = append(lengths, len(v))
		}
		if lengths[1] != lengths[2] {
			t.Fatalf("sealed reports differ in length: %v", lengths)
		}
	})
}
