package hub

import (
	"context"
	"errors"
	"time"
)

// ErrNotFound is returned by Store.Get for a missing or expired key.
var ErrNotFound = errors.New("hub store: not found")

// Store is the shared key/value state of the gateway. The memory and Redis
// implementations have the same semantics and pass the same test suite
// (store_test.go), so a policy behaves alike on one node or many.
type Store interface {
	// Get returns the value of key, or ErrNotFound.
	Get(ctx context.Context, key string) ([]byte, error)
	// Set stores value under key for ttl (ttl ≤ 0 means no expiry).
	Set(ctx context.Context, key string, value []byte, ttl time.Duration) error
	// SetNX stores value only if key is absent and reports whether it did.
	SetNX(ctx context.Context, key string, value []byte, ttl time.Duration) (bool, error)
	// Incr adds delta to the integer at key (created at 0 with ttl when
	// absent; an existing key keeps its expiry) and returns the new value.
	Incr(ctx context.Context, key string, delta int64, ttl time.Duration) (int64, error)
	// Delete removes keys; missing keys are not an error.
	Delete(ctx context.Context, keys ...string) error
	// Ping checks that the backend answers.
	Ping(ctx context.Context) error
	// Kind names the backend ("memory" or "redis") for logs and metrics.
	Kind() string
}

// StoreModule is a Caddy module that provides a Store (namespace hub.stores).
type StoreModule interface {
	// Store returns the pooled store; the module keeps its reference until Cleanup.
	Store() Store
}
