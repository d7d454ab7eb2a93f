package webhooks

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// SecretPrefix starts every signing secret (Standard Webhooks).
const SecretPrefix = "whsec_"

// secretBytes is the signing key's length: 256 bits.
const secretBytes = 32

// newSecret returns a fresh "whsec_" + base64 signing secret.
func newSecret() (string, error) {
	b := make([]byte, secretBytes)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return SecretPrefix + base64.StdEncoding.EncodeToString(b), nil
}

// secretKey is the HMAC key of a "whsec_" secret: the base64 after the
// prefix, decoded (Standard Webhooks).
func secretKey(secret string) ([]byte, error) {
	raw, ok := strings.CutPrefix(secret, SecretPrefix)
	if !ok {
		return nil, errors.New("not a whsec_ secret")
	}
	return base64.StdEncoding.DecodeString(raw)
}

// Sign returns the Standard Webhooks signature of a message: "v1," and
// the base64 HMAC-SHA256, under the secret's key, of "id.timestamp.body".
func Sign(secret, id string, timestamp int64, body []byte) (string, error) {
	key, err := secretKey(secret)
	if err != nil {
		return "", err
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id))
	m.Write([]byte{'.'})
	m.Write([]byte(strconv.FormatInt(timestamp, 10)))
	m.Write([]byte{'.'})
	m.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil)), nil
}

// Verify reports whether header (a webhook-signature value: one or more
// space-separated "v1,<base64>") holds a valid signature of the message
// under secret. Comparisons are constant-time. Receivers also check that
// timestamp is recent (docs/webhooks.md).
func Verify(secret, id string, timestamp int64, body []byte, header string) bool {
	want, err := Sign(secret, id, timestamp, body)
	if err != nil {
		return false
	}
	ok := false
	for _, sig := range strings.Fields(header) {
		if hmac.Equal([]byte(sig), []byte(want)) {
			ok = true
		}
	}
	return ok
}

// sealer encrypts signing secrets at rest with AES-256-GCM under a key
// derived from HUB_GATEWAY_SECRET. Ciphertexts are "v1:" + base64(nonce ‖
// sealed); the version names the key, so a later key rotation can tell
// old ciphertexts from new ones. During a rollover of the gateway secret
// the key derived from the accepted secret still opens (never seals), so
// stored secrets survive the rollover (docs/deployment.md).
type sealer struct {
	aead  cipher.AEAD
	older []cipher.AEAD
}

func newSealer(key []byte, older ...[]byte) (*sealer, error) {
	s := &sealer{}
	for i, k := range append([][]byte{key}, older...) {
		if len(k) != 32 {
			return nil, errors.New("webhooks: the secret encryption key must be 32 bytes")
		}
		block, err := aes.NewCipher(k)
		if err != nil {
			return nil, err
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, err
		}
		if i == 0 {
			s.aead = aead
		} else {
			s.older = append(s.older, aead)
		}
	}
	return s, nil
}

const sealVersion = "v1:"

// seal encrypts secret; the webhook id is the associated data, so a
// ciphertext copied to another row does not open.
func (s *sealer) seal(id, secret string) (string, error) {
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	out := s.aead.Seal(nonce, nonce, []byte(secret), []byte(id))
	return sealVersion + base64.StdEncoding.EncodeToString(out), nil
}

// openCurrent opens enc with the current key only.
func (s *sealer) openCurrent(id, enc string) (string, error) {
	return (&sealer{aead: s.aead}).open(id, enc)
}

// open decrypts a seal of secret for webhook id.
func (s *sealer) open(id, enc string) (string, error) {
	raw, ok := strings.CutPrefix(enc, sealVersion)
	if !ok {
		return "", errors.New("webhooks: unknown secret encryption version")
	}
	b, err := base64.StdEncoding.DecodeString(raw)
	if err != nil || len(b) < s.aead.NonceSize() {
		return "", errors.New("webhooks: malformed encrypted secret")
	}
	n := s.aead.NonceSize()
	plain, err := s.aead.Open(nil, b[:n], b[n:], []byte(id))
	for _, a := range s.older {
		if err == nil {
			break
		}
		plain, err = a.Open(nil, b[:n], b[n:], []byte(id))
	}
	if err != nil {
		return "", errors.New("webhooks: the encrypted secret does not open (was HUB_GATEWAY_SECRET changed?)")
	}
	return string(plain), nil
}

// Tolerance is how far a delivery's webhook-timestamp may be from the
// receiver's clock (Standard Webhooks suggests 5 minutes): older
// deliveries are refused as possible replays.
const Tolerance = 5 * time.Minute

// VerifyRequest checks a received delivery as a receiver must: the
// webhook-id, webhook-timestamp (within Tolerance of now) and
// webhook-signature headers, against body, under secret.
func VerifyRequest(secret string, h http.Header, body []byte, now time.Time) error {
	id, ts := h.Get(HeaderID), h.Get(HeaderTimestamp)
	if id == "" || ts == "" || h.Get(HeaderSignature) == "" {
		return errors.New("missing webhook-id, webhook-timestamp or webhook-signature")
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return errors.New("webhook-timestamp is not a Unix time in seconds")
	}
	if d := now.Sub(time.Unix(sec, 0)); d > Tolerance || d < -Tolerance {
		return errors.New("webhook-timestamp is outside the tolerance (replayed or clock skew)")
	}
	if !Verify(secret, id, sec, body, h.Get(HeaderSignature)) {
		return errors.New("no valid signature")
	}
	return nil
}
