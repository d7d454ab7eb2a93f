// Package hub is the hub Caddy app: the state shared by every hubgate handler.
package hub
