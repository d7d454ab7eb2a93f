// Command hubgate is Caddy with the standard modules and the hubgate suite
// compiled in. It behaves exactly like the caddy command.
package main

import (
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	// Standard Caddy modules.
	_ "github.com/caddyserver/caddy/v2/modules/standard"

	// The hubgate modules.
	_ "github.com/hubchantier/hubgate"
)

func main() {
	caddycmd.Main()
}
