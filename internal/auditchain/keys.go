package auditchain

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"hash"
	"strings"
)

// Keys of the audit trail. Each is derived from the gateway↔upstream
// shared secret (HUB_GATEWAY_SECRET) with its own label, so none is ever
// stored in the database or in a record, and one never serves two purposes.
const (
	labelBody       = "hub-audit/request-body-hash/v1"
	labelAccount    = "hub-audit/login-account/v1"
	labelCheckpoint = "hub-audit/checkpoint/v1"
)

// DeriveKey returns HMAC-SHA256(secret, label): a 32-byte key for one
// purpose (domain separation).
func DeriveKey(secret []byte, label string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(label))
	return m.Sum(nil)
}

// BodyKey is the key of request_body_hash.
func BodyKey(secret []byte) []byte { return DeriveKey(secret, labelBody) }

// CheckpointKey is the key that signs chain checkpoints.
func CheckpointKey(secret []byte) []byte { return DeriveKey(secret, labelCheckpoint) }

// BodyHashPrefix starts every keyed request_body_hash.
const BodyHashPrefix = "hmac-sha256:"

// KeyID names a key without revealing it: the first 8 hex digits of
// SHA-256("hub-audit-key-id\n" ‖ key). It tells which secret a body hash
// was made with after HUB_GATEWAY_SECRET is rotated.
func KeyID(key []byte) string {
	h := sha256.New()
	h.Write([]byte("hub-audit-key-id\n"))
	h.Write(key)
	return hex.EncodeToString(h.Sum(nil))[:8]
}

// NewBodyHasher returns the running hash of a request body under key (a
// BodyKey); FormatBodyHash turns its sum into the recorded value.
func NewBodyHasher(key []byte) hash.Hash { return hmac.New(sha256.New, key) }

// FormatBodyHash is the recorded form of a body hash:
// "hmac-sha256:<KeyID(key)>:<lowercase hex HMAC-SHA256(key, body)>".
//
// Why keyed: a plain SHA-256 of a small body (a login, a PIN) can be
// recovered by guessing; without the key, the hash tells nothing. A holder
// of the secret checks a body with BodyHash (or `hubchantier audit
// body-hash`) and compares.
func FormatBodyHash(key, sum []byte) string {
	return BodyHashPrefix + KeyID(key) + ":" + hex.EncodeToString(sum)
}

// BodyHash returns the recorded hash of body under the shared secret.
func BodyHash(secret, body []byte) string {
	k := BodyKey(secret)
	h := NewBodyHasher(k)
	h.Write(body)
	return FormatBodyHash(k, h.Sum(nil))
}

// AccountHeader is the response header in which the upstream's login
// handlers report the account a login named, sealed (SealAccount); hub_audit
// opens it into AttemptedUserID and removes it from the response.
const AccountHeader = "X-Hub-Audit-Account"

// accountPlain is the fixed length of a sealed account (length byte + id,
// zero-padded), so an unknown email ("") and an account id seal to values
// of the same length.
const accountPlain = 32

// ErrBadAccount is an AccountHeader value that does not open.
var ErrBadAccount = errors.New("malformed account report")

// SealAccount encrypts userID ("" for an unknown email) with AES-256-GCM
// under a key derived from secret, into base64url. The upstream sends it on
// every login answer, failed or not, whether or not the account exists: a
// value reaching a client (a gateway without hub_audit) is indistinguishable
// noise, so the report is no account-existence oracle.
func SealAccount(secret []byte, userID string) string {
	if len(userID) > accountPlain-1 {
		userID = userID[:accountPlain-1]
	}
	var plain [accountPlain]byte
	plain[0] = byte(len(userID))
	copy(plain[1:], userID)
	aead := accountAEAD(secret)
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+accountPlain+aead.Overhead())
	_, _ = rand.Read(nonce)
	return base64.RawURLEncoding.EncodeToString(aead.Seal(nonce, nonce, plain[:], []byte(AccountHeader)))
}

// OpenAccount reverses SealAccount.
func OpenAccount(secret []byte, v string) (string, error) {
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimSpace(v))
	aead := accountAEAD(secret)
	if err != nil || len(raw) != aead.NonceSize()+accountPlain+aead.Overhead() {
		return "", ErrBadAccount
	}
	plain, err := aead.Open(nil, raw[:aead.NonceSize()], raw[aead.NonceSize():], []byte(AccountHeader))
	if err != nil || int(plain[0]) > accountPlain-1 {
		return "", ErrBadAccount
	}
	return string(plain[1 : 1+plain[0]]), nil
}

func accountAEAD(secret []byte) cipher.AEAD {
	block, _ := aes.NewCipher(DeriveKey(secret, labelAccount)) // 32 bytes: never fails
	aead, _ := cipher.NewGCM(block)
	return aead
}
