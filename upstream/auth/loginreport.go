package auth

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/hubchantier/hubgate/internal/auditchain"
)

// ReportLoginAccount tells hub_audit which account a login named, so a
// failed login's record holds the attempted user id (never the email or
// password): id on success, else the account of email if it exists, else
// "". The value is sealed with the gateway secret (auditchain.SealAccount) and
// sent on every login answer whatever the outcome, so it is no
// account-existence oracle even where no hub_audit strips it. A throttled
// attempt reports like a failed one; other errors report nothing.
func (s *Service) ReportLoginAccount(ctx context.Context, w http.ResponseWriter, email string, id int64, err error) {
	var throttled *ThrottledError
	if err != nil && !errors.Is(err, ErrBadCredentials) && !errors.As(err, &throttled) {
		return
	}
	if err != nil {
		id = 0 // one lookup for unknown and known emails alike
		_ = s.db.QueryRow(ctx, `SELECT id FROM users WHERE email = ?`, strings.ToLower(strings.TrimSpace(email))).Scan(&id)
	}
	user := ""
	if id != 0 {
		user = strconv.FormatInt(id, 10)
	}
	w.Header().Set(auditchain.AccountHeader, auditchain.SealAccount(s.o.GatewaySecret, user))
}
