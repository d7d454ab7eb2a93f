package harness

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// cleaner is what RedisPrefix needs of a *testing.T.
type cleaner interface {
	Cleanup(func())
	Logf(format string, args ...any)
}

// RedisPrefix returns a store prefix of its own for a test's gateways
// ("<name>:<nanoseconds>:", passed with GatewayOptions.RedisPrefix; the
// gateways of one test that must share state share it) and deletes every
// key under it when the test ends, so that the suite leaves nothing in the
// test database.
func RedisPrefix(t cleaner, url, name string) string {
	prefix := fmt.Sprintf("%s:%d:", name, time.Now().UnixNano())
	t.Cleanup(func() {
		if n, err := DeleteRedisPrefix(url, prefix); err != nil {
			t.Logf("cleaning Redis keys %s*: %v (%d deleted)", prefix, err, n)
		}
	})
	return prefix
}

// DeleteRedisPrefix deletes every key of the database at url whose name
// starts with prefix, and returns how many it deleted.
func DeleteRedisPrefix(url, prefix string) (int, error) {
	opts, err := redis.ParseURL(url)
	if err != nil {
		return 0, err
	}
	c := redis.NewClient(opts)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n := 0
	iter := c.Scan(ctx, 0, prefix+"*", 500).Iterator()
	var batch []string
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := c.Unlink(ctx, batch...).Err()
		n += len(batch)
		batch = batch[:0]
		return err
	}
	for iter.Next(ctx) {
		batch = append(batch, iter.Val())
		if len(batch) == 500 {
			if err := flush(); err != nil {
				return n, err
			}
		}
	}
	if err := iter.Err(); err != nil {
		return n, err
	}
	return n, flush()
}
