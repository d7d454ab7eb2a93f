package page

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"sort"
	"strings"
)

// Direction says which way a cursor walks from its position.
type Direction byte

// Directions: Next returns rows after the position, Prev rows before it.
const (
	Next Direction = 'n'
	Prev Direction = 'p'
)

// Position is what a cursor carries: a keyset position on (created_at, id)
// and the direction to walk from it.
type Position struct {
	Dir       Direction
	CreatedAt int64
	ID        int64
}

// payloadVersion lets the format change without accepting old cursors as new.
const payloadVersion = 1

// payloadLen is version + direction + created_at + id.
const payloadLen = 1 + 1 + 8 + 8

// b64 is strict so that a cursor has exactly one spelling: non-zero padding
// bits are refused rather than silently dropped.
var b64 = base64.RawURLEncoding.Strict()

// Codec issues and checks cursors. Cursors are base64url(payload) "."
// base64url(HMAC-SHA256(key, scope ‖ payload)): the client can neither read
// meaning into them nor forge or move them to another list, since the MAC
// covers the scope (resource and filters, see Scope).
type Codec struct {
	key []byte
}

// NewCodec returns a codec keyed with key. An empty key is replaced by a
// random one: cursors then only work within this process.
func NewCodec(key []byte) *Codec {
	if len(key) == 0 {
		key = make([]byte, 32)
		_, _ = rand.Read(key)
	}
	return &Codec{key: append([]byte(nil), key...)}
}

// Scope is the canonical name of a list: the resource and its filters
// (sorted), so that a cursor is valid only for the list that issued it.
func Scope(resource string, filters map[string]string) string {
	keys := make([]string, 0, len(filters))
	for k := range filters {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(resource)
	for _, k := range keys {
		// Query-escaping keeps '&' and '=' inside values unambiguous.
		b.WriteByte('&')
		b.WriteString(escape(k))
		b.WriteByte('=')
		b.WriteString(escape(filters[k]))
	}
	return b.String()
}

var scopeEscaper = strings.NewReplacer("%", "%25", "&", "%26", "=", "%3D")

func escape(s string) string { return scopeEscaper.Replace(s) }

// Encode returns the cursor for p in scope.
func (c *Codec) Encode(scope string, p Position) string {
	var buf [payloadLen]byte
	buf[0] = payloadVersion
	buf[1] = byte(p.Dir)
	binary.BigEndian.PutUint64(buf[2:], uint64(p.CreatedAt))
	binary.BigEndian.PutUint64(buf[10:], uint64(p.ID))
	return b64.EncodeToString(buf[:]) + "." + b64.EncodeToString(c.mac(scope, buf[:]))
}

// Decode checks s against scope and returns its position, or
// ErrInvalidCursor. Only strings produced by Encode for the same scope and
// key are accepted.
func (c *Codec) Decode(scope, s string) (Position, error) {
	body, sig, ok := strings.Cut(s, ".")
	if !ok || len(body) != b64.EncodedLen(payloadLen) || len(sig) != b64.EncodedLen(sha256.Size) {
		return Position{}, ErrInvalidCursor
	}
	payload, err := b64.DecodeString(body)
	if err != nil || len(payload) != payloadLen {
		return Position{}, ErrInvalidCursor
	}
	mac, err := b64.DecodeString(sig)
	if err != nil || !hmac.Equal(mac, c.mac(scope, payload)) {
		return Position{}, ErrInvalidCursor
	}
	p := Position{
		Dir:       Direction(payload[1]),
		CreatedAt: int64(binary.BigEndian.Uint64(payload[2:])),
		ID:        int64(binary.BigEndian.Uint64(payload[10:])),
	}
	if payload[0] != payloadVersion || (p.Dir != Next && p.Dir != Prev) {
		return Position{}, ErrInvalidCursor
	}
	return p, nil
}

// mac binds payload to scope; the length prefix keeps scope and payload
// from sliding into each other.
func (c *Codec) mac(scope string, payload []byte) []byte {
	h := hmac.New(sha256.New, c.key)
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(scope)))
	h.Write([]byte("hubchantier-cursor\x00"))
	h.Write(n[:])
	h.Write([]byte(scope))
	h.Write(payload)
	return h.Sum(nil)
}
