package auth

import (
	"context"
	"fmt"
)

// MaxListUsers bounds ListUsers: the console's users page lists a small
// organisation's accounts, not a directory.
const MaxListUsers = 500

// ListUsers returns up to MaxListUsers users ordered by email.
func (s *Service) ListUsers(ctx context.Context) ([]User, error) {
	rows, err := s.db.Query(ctx, `SELECT `+userCols+` FROM users ORDER BY email LIMIT ?`, MaxListUsers)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	defer rows.Close()
	out := []User{}
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, fmt.Errorf("list users: %w", err)
		}
		out = append(out, u)
	}
	return out, rows.Err()
}
