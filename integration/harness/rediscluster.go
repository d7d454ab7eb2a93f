package harness

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisCluster is a Redis Cluster of redis-server processes on loopback
// ports, made by StartRedisCluster: masters with one replica each, no
// persistence, failover after ClusterNodeTimeout.
type RedisCluster struct {
	Nodes []*RedisNode
}

// RedisNode is one redis-server of a cluster.
type RedisNode struct {
	*Proc
	Addr string // 127.0.0.1:port
	Dir  string // its working directory (nodes.conf, log)
}

// ClusterNodeTimeout is the cluster-node-timeout of the nodes: a master
// unreachable for this long is marked failed and its replica promoted.
const ClusterNodeTimeout = time.Second

// StartRedisCluster starts one redis-server --cluster-enabled yes per
// directory (each in its own, e.g. t.TempDir()) and joins them with
// redis-cli --cluster create … --cluster-replicas 1, so 6 directories make
// 3 masters and 3 replicas. It returns once every node reports
// cluster_state:ok and every master has a synchronised replica. An error
// wrapping ErrSkip means this machine cannot run a cluster (no
// redis-server or redis-cli, or no cluster support). On any error the
// processes already started are killed.
func StartRedisCluster(dirs []string) (*RedisCluster, error) {
	if len(dirs) < 6 || len(dirs)%2 != 0 {
		return nil, fmt.Errorf("redis cluster: need an even number ≥ 6 of directories, got %d", len(dirs))
	}
	server, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, fmt.Errorf("%w: redis-server not found: %v", ErrSkip, err)
	}
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		return nil, fmt.Errorf("%w: redis-cli not found: %v", ErrSkip, err)
	}
	if out, err := exec.Command(cli, "--cluster", "help").CombinedOutput(); err != nil && !strings.Contains(string(out), "create") {
		return nil, fmt.Errorf("%w: redis-cli has no --cluster: %s", ErrSkip, out)
	}
	c := &RedisCluster{}
	ok := false
	defer func() {
		if !ok {
			c.Stop()
		}
	}()
	for _, dir := range dirs {
		n, err := startClusterNode(server, dir)
		if err != nil {
			return nil, err
		}
		c.Nodes = append(c.Nodes, n)
	}
	args := []string{"--cluster", "create"}
	for _, n := range c.Nodes {
		args = append(args, n.Addr)
	}
	args = append(args, "--cluster-replicas", "1", "--cluster-yes")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, cli, args...).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("redis-cli --cluster create: %v\n%s", err, out)
	}
	if err := c.waitReady(ctx); err != nil {
		return nil, err
	}
	ok = true
	return c, nil
}

// startClusterNode starts one node and waits for its PING.
func startClusterNode(server, dir string) (*RedisNode, error) {
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	bus, err := FreePort()
	if err != nil {
		return nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	p, err := Start(dir, "redis-"+strconv.Itoa(port), server, nil,
		"--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--cluster-enabled", "yes", "--cluster-port", strconv.Itoa(bus),
		"--cluster-config-file", filepath.Join(dir, "nodes.conf"),
		"--cluster-node-timeout", strconv.FormatInt(ClusterNodeTimeout.Milliseconds(), 10),
		// A replica takes over whatever the age of its data: the tests
		// kill masters on purpose.
		"--cluster-replica-validity-factor", "0",
		"--dir", dir, "--save", "", "--appendonly", "no")
	if err != nil {
		return nil, err
	}
	n := &RedisNode{Proc: p, Addr: addr, Dir: dir}
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	defer c.Close()
	deadline := time.Now().Add(15 * time.Second)
	for {
		if p.Exited() {
			tail := p.Tail(2000)
			if strings.Contains(tail, "cluster") && (strings.Contains(tail, "Bad directive") || strings.Contains(tail, "not supported")) {
				return nil, fmt.Errorf("%w: redis-server lacks cluster support:\n%s", ErrSkip, tail)
			}
			return nil, fmt.Errorf("redis-server on %s exited early:\n%s", addr, tail)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		info, err := c.Info(ctx, "cluster").Result()
		cancel()
		if err == nil {
			if !strings.Contains(info, "cluster_enabled:1") {
				p.Kill()
				return nil, fmt.Errorf("%w: redis-server on %s runs without cluster support", ErrSkip, addr)
			}
			return n, nil
		}
		if time.Now().After(deadline) {
			p.Kill()
			return nil, fmt.Errorf("redis-server on %s: no answer within 15 s: %v\n%s", addr, err, p.Tail(2000))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// URL is the cluster's address for the hub store (`store redis <url> {
// cluster }`): the first live node, the others as ?addr= parameters.
func (c *RedisCluster) URL() string {
	var addrs []string
	for _, n := range c.Live() {
		addrs = append(addrs, n.Addr)
	}
	if len(addrs) == 0 {
		return ""
	}
	u := "redis://" + addrs[0]
	for i, a := range addrs[1:] {
		if i == 0 {
			u += "?"
		} else {
			u += "&"
		}
		u += "addr=" + a
	}
	return u
}

// Live returns the nodes still running.
func (c *RedisCluster) Live() []*RedisNode {
	var out []*RedisNode
	for _, n := range c.Nodes {
		if !n.Exited() {
			out = append(out, n)
		}
	}
	return out
}

// Client returns a cluster client on the live nodes (the caller closes it).
func (c *RedisCluster) Client() *redis.ClusterClient {
	var addrs []string
	for _, n := range c.Live() {
		addrs = append(addrs, n.Addr)
	}
	return redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs})
}

// Stop kills every node (SIGKILL: the data is thrown away anyway).
func (c *RedisCluster) Stop() {
	for _, n := range c.Nodes {
		n.Kill()
	}
}

// node returns the node at addr.
func (c *RedisCluster) node(addr string) *RedisNode {
	for _, n := range c.Nodes {
		if n.Addr == addr {
			return n
		}
	}
	return nil
}

// MasterOf returns the live node that serves key's slot as master, as a
// live node sees the cluster.
func (c *RedisCluster) MasterOf(ctx context.Context, key string) (*RedisNode, error) {
	for _, n := range c.Live() {
		cl := redis.NewClient(&redis.Options{Addr: n.Addr, MaxRetries: -1})
		slot, err := cl.ClusterKeySlot(ctx, key).Result()
		var slots []redis.ClusterSlot
		if err == nil {
			slots, err = cl.ClusterSlots(ctx).Result()
		}
		cl.Close()
		if err != nil {
			continue
		}
		for _, s := range slots {
			if int64(s.Start) <= slot && slot <= int64(s.End) && len(s.Nodes) > 0 {
				if m := c.node(s.Nodes[0].Addr); m != nil && !m.Exited() {
					return m, nil
				}
			}
		}
	}
	return nil, fmt.Errorf("redis cluster: no live master for %q", key)
}

// WaitHealthy polls every live node until each reports cluster_state:ok and
// sees every slot served by a live master; it returns how long that took.
// After a master is killed this is the replica's promotion.
func (c *RedisCluster) WaitHealthy(ctx context.Context) (time.Duration, error) {
	start := time.Now()
	for {
		err := c.healthy(ctx)
		if err == nil {
			return time.Since(start), nil
		}
		select {
		case <-ctx.Done():
			return time.Since(start), fmt.Errorf("redis cluster not healthy: %v", err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// healthy reports why the cluster is not healthy yet (nil when it is).
func (c *RedisCluster) healthy(ctx context.Context) error {
	for _, n := range c.Live() {
		cl := redis.NewClient(&redis.Options{Addr: n.Addr, MaxRetries: -1})
		err := func() error {
			info, err := cl.ClusterInfo(ctx).Result()
			if err != nil {
				return err
			}
			if !strings.Contains(info, "cluster_state:ok") {
				return fmt.Errorf("%s: cluster_state not ok", n.Addr)
			}
			slots, err := cl.ClusterSlots(ctx).Result()
			if err != nil {
				return err
			}
			covered := 0
			for _, s := range slots {
				if len(s.Nodes) == 0 {
					continue
				}
				if m := c.node(s.Nodes[0].Addr); m == nil || m.Exited() {
					return fmt.Errorf("%s: slots %d-%d served by dead %s", n.Addr, s.Start, s.End, s.Nodes[0].Addr)
				}
				covered += s.End - s.Start + 1
			}
			if covered != 16384 {
				return fmt.Errorf("%s: %d slots covered", n.Addr, covered)
			}
			return nil
		}()
		cl.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// waitReady waits for a healthy cluster whose masters each have a replica
// with an up link (so that a killed master can fail over).
func (c *RedisCluster) waitReady(ctx context.Context) error {
	if _, err := c.WaitHealthy(ctx); err != nil {
		return err
	}
	for {
		err := c.replicated(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("redis cluster replicas not in sync: %v", err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (c *RedisCluster) replicated(ctx context.Context) error {
	masters := 0
	for _, n := range c.Live() {
		cl := redis.NewClient(&redis.Options{Addr: n.Addr, MaxRetries: -1})
		info, err := cl.Info(ctx, "replication").Result()
		cl.Close()
		if err != nil {
			return err
		}
		switch {
		case strings.Contains(info, "role:master"):
			masters++
			if !strings.Contains(info, "connected_slaves:1") {
				return fmt.Errorf("%s: master without a connected replica", n.Addr)
			}
		case !strings.Contains(info, "master_link_status:up"):
			return fmt.Errorf("%s: replica link not up", n.Addr)
		}
	}
	if masters != len(c.Live())/2 {
		return fmt.Errorf("%d masters", masters)
	}
	return nil
}

// IsSkip reports whether err says the machine cannot run the set-up.
func IsSkip(err error) bool { return errors.Is(err, ErrSkip) }
