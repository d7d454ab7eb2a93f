// Package apikey defines the format of hubgate API keys, shared by the
// upstream (which issues them) and the gateway (which verifies them).
//
// A key reads hbc_<id>_<secret>: id is 12 characters of [a-z0-9] naming the
// key publicly; secret is 43 base62 characters drawn from crypto/rand (256
// bits). Only SHA-256 of the secret is ever stored: the secret has full
// entropy, so a slow password hash would add cost without adding safety.
package apikey

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"strings"
)

const (
	// Prefix starts every key; secret scanners can look for it.
	Prefix = "hbc_"
	// IDLen is the length of the public key id.
	IDLen = 12
	// SecretLen is the length of the secret: 43 base62 characters ≥ 256 bits.
	SecretLen = 43
	// Len is the length of a whole key.
	Len = len(Prefix) + IDLen + 1 + SecretLen

	idAlphabet     = "abcdefghijklmnopqrstuvwxyz0123456789"
	secretAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
)

// ErrMalformed is returned by Parse for anything that is not a well-formed key.
var ErrMalformed = errors.New("malformed API key")

// Parse splits a key into its id and secret. It checks the whole syntax, so
// a caller never looks up ids or hashes secrets of garbage input.
func Parse(key string) (id, secret string, err error) {
	if len(key) != Len || !strings.HasPrefix(key, Prefix) {
		return "", "", ErrMalformed
	}
	rest := key[len(Prefix):]
	id, sep, secret := rest[:IDLen], rest[IDLen], rest[IDLen+1:]
	if sep != '_' || !only(id, idAlphabet) || !only(secret, secretAlphabet) {
		return "", "", ErrMalformed
	}
	return id, secret, nil
}

// LooksLikeKey reports whether s carries the key prefix; such a credential is
// treated as an API key even when malformed, so the error says so.
func LooksLikeKey(s string) bool { return strings.HasPrefix(s, Prefix) }

// ValidID reports whether id has the syntax of a key id.
func ValidID(id string) bool { return len(id) == IDLen && only(id, idAlphabet) }

// Generate returns a new key: its id, its secret and the whole key string.
func Generate() (id, secret, key string, err error) {
	if id, err = randomString(IDLen, idAlphabet); err != nil {
		return "", "", "", err
	}
	if secret, err = randomString(SecretLen, secretAlphabet); err != nil {
		return "", "", "", err
	}
	return id, secret, Prefix + id + "_" + secret, nil
}

// NewSecret returns a fresh secret for an existing id (rotation).
func NewSecret(id string) (secret, key string, err error) {
	if secret, err = randomString(SecretLen, secretAlphabet); err != nil {
		return "", "", err
	}
	return secret, Prefix + id + "_" + secret, nil
}

// Hash returns the stored form of a secret: lowercase hex SHA-256.
func Hash(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// Match compares a secret with a stored hash in constant time. It runs on
// every request (issue 12), so it allocates nothing.
func Match(secret, storedHash string) bool {
	sum := sha256.Sum256([]byte(secret))
	var h [2 * sha256.Size]byte
	hex.Encode(h[:], sum[:])
	return len(storedHash) == len(h) && subtle.ConstantTimeCompare(h[:], []byte(storedHash)) == 1
}

func only(s, alphabet string) bool {
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(alphabet, s[i]) < 0 {
			return false
		}
	}
	return true
}

// randomString draws n characters uniformly from alphabet, rejecting bytes
// that would bias the distribution.
func randomString(n int, alphabet string) (string, error) {
	limit := 256 - 256%len(alphabet)
	out := make([]byte, 0, n)
	buf := make([]byte, n*2)
	for len(out) < n {
		if _, err := rand.Read(buf); err != nil {
			return "", err
		}
		for _, b := range buf {
			if int(b) < limit && len(out) < n {
				out = append(out, alphabet[int(b)%len(alphabet)])
			}
		}
	}
	return string(out), nil
}
