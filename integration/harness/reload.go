package harness

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"time"
)

// Reload runs `hubgate reload --config <config> --adapter caddyfile` against
// the gateway's admin API, with exactly the gateway's environment (the
// Caddyfile's {$VAR}s are expanded by the reload command, so another
// environment would change the configuration), as `make reload` does.
func (g *Gateway) Reload(config string) error {
	dir, err := Binaries()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(dir, "hubgate"), "reload",
		"--config", config, "--adapter", "caddyfile", "--address", g.AdminAddr)
	cmd.Env = g.Cmd.Env
	cmd.Dir = RepoRoot()
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("hubgate reload: %v\n%s", err, out)
	}
	return nil
}
