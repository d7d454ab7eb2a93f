package oauth

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/hubchantier/hubgate/upstream/auth"
	"github.com/hubchantier/hubgate/upstream/db"
)

// Limits on client registrations.
const (
	MaxRedirectURIs   = 10
	MaxRedirectURILen = 2000
	MaxClientNameLen  = 100
)

// Client is a registered OAuth2 client. The secret never leaves CreateClient.
type Client struct {
	// ID is the public client_id ("hcc_" + 16 hex characters).
	ID string `json:"client_id"`
	// Name is shown to users on the consent page and in their app list.
	Name string `json:"name"`
	// Public clients (native and browser apps) have no secret and must use
	// PKCE; confidential ones authenticate with their secret.
	Public bool `json:"public"`
	// RedirectURIs are matched exactly (RFC 9700 §4.1.3), except the port
	// of loopback IP redirects (RFC 8252 §7.3).
	RedirectURIs []string `json:"redirect_uris"`
	// Scopes are the most this client may ever be granted.
	Scopes []string `json:"scopes"`
	// CreatedAt and RevokedAt (nil while active) are UTC.
	CreatedAt time.Time  `json:"created_at"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`

	secretHash string
}

// CreatedClient is a new client with its secret, shown this once.
type CreatedClient struct {
	Client
	// ClientSecret is empty for public clients.
	ClientSecret string `json:"client_secret,omitempty"`
}

// CreateClientRequest registers a client.
type CreateClientRequest struct {
	Name         string   `json:"name"`
	RedirectURIs []string `json:"redirect_uris"`
	Scopes       []string `json:"scopes"`
	Public       bool     `json:"public"`
}

func fieldErr(field, format string, args ...any) error {
	return &auth.FieldError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// CreateClient registers a client; a confidential one gets a 256-bit secret
// of which only the SHA-256 is stored.
func (s *Server) CreateClient(ctx context.Context, req CreateClientRequest) (CreatedClient, error) {
	name := strings.TrimSpace(req.Name)
	if name == "" || len(name) > MaxClientNameLen {
		return CreatedClient{}, fieldErr("name", "is required (1 to %d characters)", MaxClientNameLen)
	}
	if len(req.RedirectURIs) == 0 || len(req.RedirectURIs) > MaxRedirectURIs {
		return CreatedClient{}, fieldErr("redirect_uris", "between 1 and %d redirect URIs are required", MaxRedirectURIs)
	}
	for _, u := range req.RedirectURIs {
		if err := validateRedirectURI(u); err != nil {
			return CreatedClient{}, fieldErr("redirect_uris", "%q: %v", u, err)
		}
	}
	scopes, err := normalizeScopes(req.Scopes)
	if err != nil {
		return CreatedClient{}, err
	}
	idb := make([]byte, 8)
	if _, err := rand.Read(idb); err != nil {
		return CreatedClient{}, err
	}
	c := CreatedClient{Client: Client{ID: "hcc_" + hex.EncodeToString(idb), Name: name, Public: req.Public,
		RedirectURIs: req.RedirectURIs, Scopes: scopes, CreatedAt: s.now().Truncate(time.Microsecond)}}
	if !req.Public {
		c.ClientSecret = randomToken()
		c.secretHash = hashToken(c.ClientSecret)
	}
	pub := 0
	if req.Public {
		pub = 1
	}
	_, err = s.db.Exec(ctx, `INSERT INTO oauth_clients (id, name, secret_hash, public, redirect_uris, scopes, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		c.ID, c.Name, c.secretHash, pub, mustJSON(c.RedirectURIs), mustJSON(c.Scopes), db.Micros(c.CreatedAt))
	if err != nil {
		return CreatedClient{}, fmt.Errorf("insert oauth client: %w", err)
	}
	return c, nil
}

func normalizeScopes(in []string) ([]string, error) {
	if len(in) == 0 {
		return nil, fieldErr("scopes", "at least one scope is required (for example \"chantiers:read\")")
	}
	seen := map[string]bool{}
	var out []string
	for _, sc := range in {
		sc = strings.TrimSpace(sc)
		if !auth.ValidScope(sc) {
			return nil, fieldErr("scopes", "unknown scope %q", sc)
		}
		if !seen[sc] {
			seen[sc] = true
			out = append(out, sc)
		}
	}
	return out, nil
}

// validateRedirectURI enforces RFC 6749 §3.1.2 and RFC 8252: absolute, no
// fragment, no credentials; https, or http on loopback only, or a
// private-use scheme in reverse-domain form for native apps.
func validateRedirectURI(raw string) error {
	if len(raw) > MaxRedirectURILen {
		return errors.New("too long")
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() {
		return errors.New("must be an absolute URI")
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return errors.New("must not contain a fragment")
	}
	if u.User != nil {
		return errors.New("must not contain credentials")
	}
	switch u.Scheme {
	case "https":
		if u.Host == "" {
			return errors.New("needs a host")
		}
	case "http":
		if !isLoopbackHost(u.Hostname()) {
			return errors.New("http is allowed only for loopback redirects (127.0.0.1, [::1], localhost); use https")
		}
	default:
		if !strings.Contains(u.Scheme, ".") {
			return errors.New("custom schemes must be reverse domain names (RFC 8252 §7.1), e.g. com.example.app:/cb")
		}
	}
	return nil
}

func isLoopbackHost(h string) bool {
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// redirectAllowed reports whether given matches one of the registered URIs:
// byte for byte, or, for a loopback IP literal registered with http, any
// port (RFC 8252 §7.3: native apps listen on an ephemeral port).
func redirectAllowed(registered []string, given string) bool {
	for _, r := range registered {
		if r == given {
			return true
		}
	}
	g, err := url.Parse(given)
	if err != nil || g.Scheme != "http" || g.User != nil || g.Fragment != "" || strings.Contains(given, "#") {
		return false
	}
	gip := net.ParseIP(g.Hostname())
	if gip == nil || !gip.IsLoopback() {
		return false
	}
	for _, r := range registered {
		u, err := url.Parse(r)
		if err != nil || u.Scheme != "http" || u.Hostname() != g.Hostname() {
			continue
		}
		if u.EscapedPath() == g.EscapedPath() && u.RawQuery == g.RawQuery {
			return true
		}
	}
	return false
}

const clientCols = `id, name, secret_hash, public, redirect_uris, scopes, created_at, revoked_at`

func scanClient(row interface{ Scan(...any) error }) (Client, error) {
	var c Client
	var pub int
	var uris, scopes string
	var created int64
	var revoked *int64
	if err := row.Scan(&c.ID, &c.Name, &c.secretHash, &pub, &uris, &scopes, &created, &revoked); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return Client{}, ErrNotFound
		}
		return Client{}, err
	}
	c.Public = pub != 0
	c.RedirectURIs, c.Scopes = parseList(uris), parseList(scopes)
	c.CreatedAt = db.FromMicros(created)
	if revoked != nil {
		t := db.FromMicros(*revoked)
		c.RevokedAt = &t
	}
	return c, nil
}

// ClientByID returns the client (revoked ones included), or ErrNotFound.
func (s *Server) ClientByID(ctx context.Context, id string) (Client, error) {
	if len(id) > 64 {
		return Client{}, ErrNotFound
	}
	c, err := scanClient(s.db.QueryRow(ctx, `SELECT `+clientCols+` FROM oauth_clients WHERE id = ?`, id))
	if err != nil && !errors.Is(err, ErrNotFound) {
		return Client{}, fmt.Errorf("load oauth client %s: %w", id, err)
	}
	return c, err
}

// ListClients returns every client, newest first.
func (s *Server) ListClients(ctx context.Context) ([]Client, error) {
	rows, err := s.db.Query(ctx, `SELECT `+clientCols+` FROM oauth_clients ORDER BY created_at DESC, id`)
	if err != nil {
		return nil, fmt.Errorf("list oauth clients: %w", err)
	}
	defer rows.Close()
	out := []Client{}
	for rows.Next() {
		c, err := scanClient(rows)
		if err != nil {
			return nil, fmt.Errorf("list oauth clients: %w", err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// RevokeClient disables a client for good: its grants are revoked in the
// database and a "client" event tells every gateway to refuse the access
// tokens it holds (those issued before the event).
func (s *Server) RevokeClient(ctx context.Context, id string) error {
	c, err := s.ClientByID(ctx, id)
	if err != nil {
		return err
	}
	now := db.Micros(s.now())
	if c.RevokedAt == nil {
		if _, err := s.db.Exec(ctx, `UPDATE oauth_clients SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL`, now, id); err != nil {
			return fmt.Errorf("revoke oauth client %s: %w", id, err)
		}
	}
	if _, err := s.db.Exec(ctx, `UPDATE oauth_grants SET revoked_at = ? WHERE client_id = ? AND revoked_at IS NULL`, now, id); err != nil {
		return fmt.Errorf("revoke grants of client %s: %w", id, err)
	}
	if _, err := s.db.Exec(ctx, `UPDATE oauth_access_tokens SET revoked_at = ? WHERE revoked_at IS NULL AND grant_id IN (SELECT id FROM oauth_grants WHERE client_id = ?)`, now, id); err != nil {
		return fmt.Errorf("revoke tokens of client %s: %w", id, err)
	}
	// Published again on a repeated revocation: harmless, and it recovers
	// from a feed write that failed the first time.
	return s.publish(ctx, auth.KindClient, id)
}

// checkSecret compares a presented secret with the client's hash in
// constant time.
func (c *Client) checkSecret(secret string) bool {
	if c.Public || c.secretHash == "" || secret == "" {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(hashToken(secret)), []byte(c.secretHash)) == 1
}
