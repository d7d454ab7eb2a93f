package auth

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/mail"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/hubchantier/hubgate/upstream/db"
)

// Roles a user can have.
const (
	RoleAdmin      = "admin"
	RoleConducteur = "conducteur"
	RoleOuvrier    = "ouvrier"
)

// Password length bounds. bcrypt reads at most 72 bytes, so longer passwords
// are refused rather than silently truncated.
const (
	MinPasswordLen = 8
	MaxPasswordLen = 72
)

// User is a person who can log in. The password hash never leaves the package.
type User struct {
	// ID is the user id; JWT sub and introspection user_id carry it in decimal.
	ID int64 `json:"id"`
	// Email is the login, stored lowercased.
	Email string `json:"email"`
	// Nom is the display name.
	Nom string `json:"nom"`
	// Role is admin, conducteur or ouvrier.
	Role string `json:"role"`
	// CreatedAt and UpdatedAt are UTC timestamps.
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	// Version increases on every update.
	Version int `json:"version"`
	// Active is false for a deactivated user: no login, keys refused at
	// the gateway, tokens cut, every request 401.
	Active bool `json:"active"`
}

// UserPatch lists the fields to change on a user; nil fields are kept.
type UserPatch struct {
	Email    *string `json:"email"`
	Password *string `json:"password"`
	Nom      *string `json:"nom"`
	Role     *string `json:"role"`
	// Active deactivates (false) or reactivates (true) the user.
	Active *bool `json:"active"`
}

// ValidRole reports whether r is one of the three roles.
func ValidRole(r string) bool {
	return r == RoleAdmin || r == RoleConducteur || r == RoleOuvrier
}

func normalizeEmail(e string) (string, error) {
	e = strings.ToLower(strings.TrimSpace(e))
	a, err := mail.ParseAddress(e)
	if err != nil || a.Address != e || len(e) > 254 {
		return "", fieldErr("email", "must be a valid email address")
	}
	return e, nil
}

func checkPassword(p string) error {
	if len(p) < MinPasswordLen {
		return fieldErr("password", "must be at least %d characters", MinPasswordLen)
	}
	if len(p) > MaxPasswordLen {
		return fieldErr("password", "must be at most %d bytes", MaxPasswordLen)
	}
	return nil
}

func checkNom(n string) (string, error) {
	n = strings.TrimSpace(n)
	if n == "" || len(n) > 200 {
		return "", fieldErr("nom", "is required (1 to 200 characters)")
	}
	return n, nil
}

// CreateUser adds a user. nom defaults to the local part of the email.
func (s *Service) CreateUser(ctx context.Context, email, password, nom, role string) (User, error) {
	email, err := normalizeEmail(email)
	if err != nil {
		return User{}, err
	}
	if err := checkPassword(password); err != nil {
		return User{}, err
	}
	if strings.TrimSpace(nom) == "" {
		nom, _, _ = strings.Cut(email, "@")
	}
	if nom, err = checkNom(nom); err != nil {
		return User{}, err
	}
	if !ValidRole(role) {
		return User{}, fieldErr("role", "must be admin, conducteur or ouvrier")
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), s.o.BcryptCost)
	if err != nil {
		return User{}, fmt.Errorf("hash password: %w", err)
	}
	now := s.now()
	id, err := s.db.InsertID(ctx, nil, `INSERT INTO users (email, nom, role, password_hash, created_at, updated_at, version) VALUES (?, ?, ?, ?, ?, ?, 1)`,
		email, nom, role, string(hash), db.Micros(now), db.Micros(now))
	if db.IsUniqueViolation(err) {
		return User{}, ErrEmailTaken
	}
	if err != nil {
		return User{}, fmt.Errorf("insert user %s: %w", email, err)
	}
	return s.UserByID(ctx, id)
}

const userCols = `id, email, nom, role, created_at, updated_at, version, active`

func scanUser(row interface{ Scan(...any) error }) (User, error) {
	var u User
	var created, updated int64
	if err := row.Scan(&u.ID, &u.Email, &u.Nom, &u.Role, &created, &updated, &u.Version, &u.Active); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return User{}, ErrNotFound
		}
		return User{}, err
	}
	u.CreatedAt, u.UpdatedAt = db.FromMicros(created), db.FromMicros(updated)
	return u, nil
}

// UserByID returns the user with that id, or ErrNotFound.
func (s *Service) UserByID(ctx context.Context, id int64) (User, error) {
	u, err := scanUser(s.db.QueryRow(ctx, `SELECT `+userCols+` FROM users WHERE id = ?`, id))
	if err != nil && !errors.Is(err, ErrNotFound) {
		return User{}, fmt.Errorf("load user %d: %w", id, err)
	}
	return u, err
}

// UserByEmailOrID resolves a CLI-style reference: a decimal id or an email.
func (s *Service) UserByEmailOrID(ctx context.Context, ref string) (User, error) {
	if id, err := strconv.ParseInt(ref, 10, 64); err == nil {
		return s.UserByID(ctx, id)
	}
	u, err := scanUser(s.db.QueryRow(ctx, `SELECT `+userCols+` FROM users WHERE email = ?`, strings.ToLower(strings.TrimSpace(ref))))
	if err != nil && !errors.Is(err, ErrNotFound) {
		return User{}, fmt.Errorf("load user %s: %w", ref, err)
	}
	return u, err
}

// UpdateUser applies p to user id and returns the user as written.
func (s *Service) UpdateUser(ctx context.Context, id int64, p UserPatch) (User, error) {
	_, u, err := s.UpdateUserChanges(ctx, id, p)
	return u, err
}

// UpdateUserChanges applies p to user id and returns the user before and
// after. The write is conditional on the version read (ErrConflict when a
// concurrent update won). A role change or a deactivation cuts the user's
// credentials (see cutCredentials): tokens issued until now are refused at
// every gateway within a second, cached keys are refetched with the new
// role or state.
func (s *Service) UpdateUserChanges(ctx context.Context, id int64, p UserPatch) (User, User, error) {
	u, err := s.UserByID(ctx, id)
	if err != nil {
		return User{}, User{}, err
	}
	sets, args := []string{}, []any{}
	if p.Email != nil {
		e, err := normalizeEmail(*p.Email)
		if err != nil {
			return User{}, User{}, err
		}
		sets, args = append(sets, "email = ?"), append(args, e)
	}
	if p.Nom != nil {
		n, err := checkNom(*p.Nom)
		if err != nil {
			return User{}, User{}, err
		}
		sets, args = append(sets, "nom = ?"), append(args, n)
	}
	if p.Role != nil {
		if !ValidRole(*p.Role) {
			return User{}, User{}, fieldErr("role", "must be admin, conducteur or ouvrier")
		}
		sets, args = append(sets, "role = ?"), append(args, *p.Role)
	}
	if p.Active != nil {
		sets, args = append(sets, "active = ?"), append(args, *p.Active)
	}
	if p.Password != nil {
		if err := checkPassword(*p.Password); err != nil {
			return User{}, User{}, err
		}
		h, err := bcrypt.GenerateFromPassword([]byte(*p.Password), s.o.BcryptCost)
		if err != nil {
			return User{}, User{}, fmt.Errorf("hash password: %w", err)
		}
		sets, args = append(sets, "password_hash = ?"), append(args, string(h))
	}
	if len(sets) == 0 {
		return u, u, nil
	}
	now := s.now()
	cut := (p.Role != nil && *p.Role != u.Role) || (p.Active != nil && !*p.Active && u.Active)
	if cut {
		sets, args = append(sets, "tokens_valid_after = ?"), append(args, db.Micros(now))
	}
	sets = append(sets, "updated_at = ?", "version = version + 1")
	args = append(args, db.Micros(now), id, u.Version)
	res, err := s.db.Exec(ctx, `UPDATE users SET `+strings.Join(sets, ", ")+` WHERE id = ? AND version = ?`, args...)
	if db.IsUniqueViolation(err) {
		return User{}, User{}, ErrEmailTaken
	}
	if err != nil {
		return User{}, User{}, fmt.Errorf("update user %d: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return User{}, User{}, ErrConflict
	}
	if cut {
		if err := s.cutCredentials(ctx, id, now); err != nil {
			return User{}, User{}, err
		}
	}
	after, err := s.UserByID(ctx, id)
	return u, after, err
}

// cutCredentials publishes a "user" revocation event dated at, the
// tokens_valid_after just written: gateways refuse the user's access
// tokens issued at or before it (JWT iat ≤ at) and drop the user's cached
// keys, so the next use of a key is introspected again (current role,
// status revoked for a deactivated owner). An "api_key" event per key
// follows for gateways that predate user events on keys.
func (s *Service) cutCredentials(ctx context.Context, id int64, at time.Time) error {
	if err := s.publishAt(ctx, KindUser, strconv.FormatInt(id, 10), at); err != nil {
		return err
	}
	return s.publishUserKeys(ctx, id)
}

// DeleteUser removes a user and their API keys, and publishes a "user"
// revocation event plus an "api_key" event per key.
func (s *Service) DeleteUser(ctx context.Context, id int64) error {
	keyIDs, err := s.userKeyIDs(ctx, id)
	if err != nil {
		return err
	}
	res, err := s.db.Exec(ctx, `DELETE FROM users WHERE id = ?`, id)
	if db.IsForeignKeyViolation(err) {
		return ErrUserHasResources
	}
	if err != nil {
		return fmt.Errorf("delete user %d: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	if err := s.publish(ctx, KindUser, strconv.FormatInt(id, 10)); err != nil {
		return err
	}
	for _, k := range keyIDs {
		if err := s.publish(ctx, KindAPIKey, k); err != nil {
			return err
		}
	}
	return nil
}

func (s *Service) userKeyIDs(ctx context.Context, userID int64) ([]string, error) {
	rows, err := s.db.Query(ctx, `SELECT id FROM api_keys WHERE user_id = ?`, userID)
	if err != nil {
		return nil, fmt.Errorf("list keys of user %d: %w", userID, err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("list keys of user %d: %w", userID, err)
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

func (s *Service) publishUserKeys(ctx context.Context, userID int64) error {
	ids, err := s.userKeyIDs(ctx, userID)
	if err != nil {
		return err
	}
	for _, k := range ids {
		if err := s.publish(ctx, KindAPIKey, k); err != nil {
			return err
		}
	}
	return nil
}

// Authenticate checks an email and password. Unknown emails, wrong
// passwords and deactivated users all cost exactly one password comparison
// (an unknown email is compared against a dummy hash) and all return
// ErrBadCredentials, so neither the answer nor its timing tells them apart.
func (s *Service) Authenticate(ctx context.Context, email, password string) (User, error) {
	email = strings.ToLower(strings.TrimSpace(email))
	var hash string
	u, err := scanUserHash(s.db.QueryRow(ctx, `SELECT `+userCols+`, password_hash FROM users WHERE email = ?`, email), &hash)
	switch {
	case errors.Is(err, ErrNotFound):
		_ = s.compare(s.dummyHash(), []byte(password))
		return User{}, ErrBadCredentials
	case err != nil:
		return User{}, fmt.Errorf("load user for login: %w", err)
	}
	if s.compare([]byte(hash), []byte(password)) != nil || !u.Active {
		return User{}, ErrBadCredentials
	}
	return u, nil
}

func scanUserHash(row *sql.Row, hash *string) (User, error) {
	var u User
	var created, updated int64
	if err := row.Scan(&u.ID, &u.Email, &u.Nom, &u.Role, &created, &updated, &u.Version, &u.Active, hash); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return User{}, ErrNotFound
		}
		return User{}, err
	}
	u.CreatedAt, u.UpdatedAt = db.FromMicros(created), db.FromMicros(updated)
	return u, nil
}
