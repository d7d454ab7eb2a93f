package hubtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/redis/go-redis/v9"

	"github.com/hubchantier/hubgate/modules/hub"
)

// Stores returns the hub store backends a behaviour test runs on: memory
// always, Redis when HUB_TEST_REDIS_URL is set (a unique key prefix under
// "test:<name>:", removed after the test). name tells the suites apart.
func Stores(t *testing.T, name string) map[string]func(t *testing.T) hub.Store {
	m := map[string]func(t *testing.T) hub.Store{
		"memory": func(t *testing.T) hub.Store {
			ms := &hub.MemoryStore{Name: name + "-test-" + RandHex()}
			if err := ms.Provision(caddy.Context{}); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = ms.Cleanup() })
			return ms.Store()
		},
	}
	if url := os.Getenv("HUB_TEST_REDIS_URL"); url != "" {
		m["redis"] = func(t *testing.T) hub.Store { return RedisStore(t, url, name) }
	} else {
		t.Log("Redis variants skipped: set HUB_TEST_REDIS_URL to run them")
	}
	return m
}

// RedisStore is a hub Redis store on url under a unique prefix
// "test:<name>:<random>:", whose keys are deleted when the test ends.
func RedisStore(t *testing.T, url, name string) hub.Store {
	prefix := "test:" + name + ":" + RandHex() + ":"
	rs := &hub.RedisStore{URL: url, Prefix: prefix}
	if err := rs.Provision(caddy.Context{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = rs.Cleanup()
		// Leave nothing in the test database.
		opts, err := redis.ParseURL(url)
		if err != nil {
			t.Logf("cleaning %s*: %v", prefix, err)
			return
		}
		c := redis.NewClient(opts)
		defer c.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		keys, err := c.Keys(ctx, prefix+"*").Result()
		if err == nil && len(keys) > 0 {
			err = c.Unlink(ctx, keys...).Err()
		}
		if err != nil {
			t.Logf("cleaning %s*: %v", prefix, err)
		}
	})
	return rs.Store()
}

// RandHex is 12 random hex characters, for unique names.
func RandHex() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
