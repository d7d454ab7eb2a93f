package connectors

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// Keyring encrypts connector configurations at rest with AES-256-GCM. It
// is read from HUB_CONNECTOR_KEYS: "id:base64key" entries separated by
// commas or spaces, each key 32 bytes. The first key seals; every key
// opens. A ciphertext is "<id>:" + base64(nonce ‖ sealed), so keys rotate:
// put the new key first, keep the old one after it, run
// `hubchantier connectors reencrypt` (or restart: serve re-encrypts at
// start), then drop the old key.
type Keyring struct {
	ids  []string
	aead map[string]cipher.AEAD
}

var keyID = regexp.MustCompile(`^[A-Za-z0-9_-]{1,32}$`)

// ParseKeyring parses a HUB_CONNECTOR_KEYS value. Errors never repeat key
// material.
func ParseKeyring(v string) (*Keyring, error) {
	k := &Keyring{aead: map[string]cipher.AEAD{}}
	for _, f := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\t' }) {
		id, b64, ok := strings.Cut(f, ":")
		if !ok || !keyID.MatchString(id) {
			return nil, errors.New("HUB_CONNECTOR_KEYS: each entry must read id:base64key (id: 1-32 of A-Z a-z 0-9 _ -)")
		}
		if _, dup := k.aead[id]; dup {
			return nil, fmt.Errorf("HUB_CONNECTOR_KEYS: key id %q appears twice", id)
		}
		raw, err := base64.StdEncoding.DecodeString(b64)
		if err != nil || len(raw) != 32 {
			return nil, fmt.Errorf("HUB_CONNECTOR_KEYS: key %q must be 32 bytes in standard base64 (openssl rand -base64 32)", id)
		}
		block, err := aes.NewCipher(raw)
		if err != nil {
			return nil, err
		}
		a, err := cipher.NewGCM(block)
		if err != nil {
			return nil, err
		}
		k.ids = append(k.ids, id)
		k.aead[id] = a
	}
	if len(k.ids) == 0 {
		return nil, errors.New("HUB_CONNECTOR_KEYS: no key")
	}
	return k, nil
}

// Current is the id of the sealing key.
func (k *Keyring) Current() string { return k.ids[0] }

// Seal encrypts plain under the current key; ad (the connector id) is
// authenticated, so a ciphertext copied to another row does not open.
func (k *Keyring) Seal(ad string, plain []byte) (string, error) {
	a := k.aead[k.ids[0]]
	nonce := make([]byte, a.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	return k.ids[0] + ":" + base64.StdEncoding.EncodeToString(a.Seal(nonce, nonce, plain, []byte(ad))), nil
}

// ErrUnknownKey is a ciphertext sealed under a key no longer configured.
var ErrUnknownKey = errors.New("connector config sealed under a key missing from HUB_CONNECTOR_KEYS")

// Open decrypts a Seal of ad's config.
func (k *Keyring) Open(ad, enc string) ([]byte, error) {
	id, b64, ok := strings.Cut(enc, ":")
	if !ok {
		return nil, errors.New("malformed encrypted connector config")
	}
	a, ok := k.aead[id]
	if !ok {
		return nil, fmt.Errorf("%w (key id %q)", ErrUnknownKey, id)
	}
	b, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(b) < a.NonceSize() {
		return nil, errors.New("malformed encrypted connector config")
	}
	n := a.NonceSize()
	plain, err := a.Open(nil, b[:n], b[n:], []byte(ad))
	if err != nil {
		return nil, errors.New("the encrypted connector config does not open (wrong key or tampered row)")
	}
	return plain, nil
}

// KeyIDOf is the key id a ciphertext names.
func KeyIDOf(enc string) string {
	id, _, _ := strings.Cut(enc, ":")
	return id
}
