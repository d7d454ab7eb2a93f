package hub

import (
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"go.uber.org/zap"

	"github.com/hubchantier/hubgate/internal/contract"
)

// TestUserCutSecondGranularity is the gateway side of a role change or a
// deactivation (docs/auth.md "Cutting credentials within a second"): the
// "user" event is dated with microseconds, JWT iat with seconds. A token
// issued earlier in the second of the cut carries iat = that second and is
// refused; the upstream issues tokens after a cut in the next second, which
// pass.
func TestUserCutSecondGranularity(t *testing.T) {
	cut := time.Date(2026, 5, 1, 12, 0, 0, 400_000_000, time.UTC)
	r := NewResolver(ResolverConfig{}, zap.NewNop())
	r.now = func() time.Time { return cut.Add(100 * time.Millisecond) }
	r.apply([]contract.RevocationEvent{{Seq: 1, Kind: "user", ID: "7", At: cut}})
	iat := func(sec int) *jwt.NumericDate {
		return jwt.NewNumericDate(time.Date(2026, 5, 1, 12, 0, sec, 0, time.UTC))
	}
	for _, c := range []struct {
		name    string
		sub     string
		iat     *jwt.NumericDate
		revoked bool
	}{
		{"issued a second before", "7", iat(-1), true},
		{"issued in the second of the cut, before it", "7", iat(0), true},
		{"issued in the next second (after the cut)", "7", iat(1), false},
		{"another user", "8", iat(0), false},
	} {
		if got := r.tokenRevoked("jti", c.sub, "", c.iat); got != c.revoked {
			t.Errorf("%s: revoked = %v, want %v", c.name, got, c.revoked)
		}
	}
}
