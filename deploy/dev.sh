#!/usr/bin/env bash
# deploy/dev.sh — the engine of `make run` and `make reload`: the upstream and
# one gateway on this machine, for development and the README's tour. (For
# servers, see deploy/systemd/ and deploy/compose.yaml.)
#
#   deploy/dev.sh run      migrate, seed, start hubchantier + hubgate; Ctrl-C stops both (exit 0)
#   deploy/dev.sh reload   hubgate reload with exactly the running gateway's environment
#   deploy/dev.sh config   write data/hubgate.env as `run` would and print it (secrets hidden)
#
# The configuration that must match the running processes lives in one env
# file, data/hubgate.env (mode 0600: it holds HUB_GATEWAY_SECRET):
#
#   - `run` writes it: the previous file's values, then any HUB_* variable set
#     in the caller's environment (those win, and are kept for later runs),
#     then defaults for what is still unset. So the file always says what the
#     running processes got.
#   - `reload` reads only that file: HUB_* variables of the caller's shell are
#     dropped first, so a reload from any terminal keeps the issuer
#     (HUB_JWT_ISSUER), the audit journal (HUB_AUDIT_DIR), the store and the
#     secret of the running gateway. To change a setting, edit the file and
#     `make reload`; stop and `make run` again for the upstream's settings and
#     for the secrets, which the gateway reads from its own environment
#     ({env.HUB_GATEWAY_SECRET}), so a reload cannot change them.
#
# Everything stays under data/ (DATA overrides it): the SQLite database, the
# audit journal, and Caddy's own files (XDG_CONFIG_HOME for its autosave.json,
# XDG_DATA_HOME for its storage), never the user's ~/.config/caddy.
set -uo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
data=${DATA:-$root/data}
bin=${BIN:-$root/bin}
envfile=$data/hubgate.env

die() { echo "dev.sh: $*" >&2; exit 1; }

# hub_vars lists the HUB_* variables exported in this shell, except the test
# suite's own (HUB_TEST_*, HUB_BIN_DIR), which configure no process.
hub_vars() { compgen -e | grep -E '^HUB_' | grep -vE '^(HUB_TEST_|HUB_BIN_DIR$)' || true; }

# load_envfile exports every assignment of the env file.
load_envfile() { set -a; . "$envfile" || die "cannot read $envfile"; set +a; }

write_envfile() {
	local tmp=$envfile.tmp name
	(
		umask 077
		{
			echo "# Written by \`make run\` (deploy/dev.sh); read by \`make run\` and \`make reload\`."
			echo "# The running gateway and upstream got exactly these values. Edit, then"
			echo "# \`make reload\` (gateway settings) or restart \`make run\` (upstream settings)."
			echo "# Holds HUB_GATEWAY_SECRET: keep it 0600, never commit it."
			for name in $(hub_vars | sort) XDG_CONFIG_HOME XDG_DATA_HOME; do
				printf "%s=%q\n" "$name" "${!name}"
			done
		} >"$tmp"
	) || die "cannot write $tmp"
	mv -f "$tmp" "$envfile" || die "cannot write $envfile"
}

# audit_default is the default journal directory of a database: data/audit
# for the default SQLite file, data/audit-<hash of HUB_DB> for any other.
# A journal's records are shipped to one database's audit store; a journal
# that outlived a switch of HUB_DB would ship the rest of its chain to the
# new database, whose `audit verify` then sees a chain starting in the
# middle (a "retention gap" that is not one).
audit_default() {
	if [ "$1" = "$data/hub.db" ]; then
		echo "$data/audit"
	else
		echo "$data/audit-$(printf %s "$1" | sha256sum | cut -c1-12)"
	fi
}

# configure builds the environment of `run` (see the header) and records it.
configure() {
	mkdir -p "$data" || die "cannot create $data"
	local -A from_shell=()
	local name
	for name in $(hub_vars); do from_shell[$name]=${!name}; done
	local file_db="" file_audit=""
	if [ -f "$envfile" ]; then
		load_envfile
		file_db=${HUB_DB:-$data/hub.db} file_audit=${HUB_AUDIT_DIR:-}
		for name in "${!from_shell[@]}"; do export "$name=${from_shell[$name]}"; done
	fi
	# A new HUB_DB from the shell gets its own journal, unless the journal
	# directory was chosen (not the previous database's default).
	if [ -n "${from_shell[HUB_DB]+set}" ] && [ -z "${from_shell[HUB_AUDIT_DIR]+set}" ] &&
		[ -n "$file_db" ] && [ "$HUB_DB" != "$file_db" ] && [ "$file_audit" = "$(audit_default "$file_db")" ]; then
		unset HUB_AUDIT_DIR
	fi
	# The secret: the environment's, else the file's, else the one older
	# versions kept in data/gateway.secret, else a new random one.
	if [ -z "${HUB_GATEWAY_SECRET:-}" ] && [ -s "$data/gateway.secret" ]; then
		HUB_GATEWAY_SECRET=$(cat "$data/gateway.secret")
	fi
	if [ -z "${HUB_GATEWAY_SECRET:-}" ]; then
		HUB_GATEWAY_SECRET=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
	fi
	export HUB_GATEWAY_SECRET
	export HUB_DB="${HUB_DB:-$data/hub.db}"
	export HUB_UPSTREAM="${HUB_UPSTREAM:-127.0.0.1:9000}"
	export HUB_ADDR="${HUB_ADDR:-$HUB_UPSTREAM}"
	export HUB_LISTEN="${HUB_LISTEN:-:8080}"
	export HUB_ADMIN_LISTEN="${HUB_ADMIN_LISTEN:-localhost:2019}"
	export HUB_AUDIT_DIR="${HUB_AUDIT_DIR:-$(audit_default "$HUB_DB")}"
	local host=${HUB_LISTEN%:*}
	# Tokens are issued by the public URL (HUB_JWT_ISSUER = HUB_PUBLIC_URL),
	# which is also the OAuth2 metadata's issuer (RFC 9068 §4).
	export HUB_PUBLIC_URL="${HUB_PUBLIC_URL:-http://${host:-localhost}:${HUB_LISTEN##*:}}"
	export HUB_JWT_ISSUER="${HUB_JWT_ISSUER:-$HUB_PUBLIC_URL}"
	# make run is a local sandbox: webhooks may target this machine (the
	# README tour's listener); production keeps the SSRF guard (docs/webhooks.md).
	export HUB_WEBHOOK_ALLOW_PRIVATE="${HUB_WEBHOOK_ALLOW_PRIVATE:-true}"
	# Connectors (docs/connectors.md): a key for their configurations at
	# rest, kept in the env file like the secret; local stand-ins allowed.
	if [ -z "${HUB_CONNECTOR_KEYS:-}" ]; then
		HUB_CONNECTOR_KEYS="dev1:$(head -c 32 /dev/urandom | base64 | tr -d '\n')"
	fi
	export HUB_CONNECTOR_KEYS
	export HUB_CONNECTOR_ALLOW_HTTP="${HUB_CONNECTOR_ALLOW_HTTP:-true}"
	export HUB_CONNECTOR_ALLOW_PRIVATE="${HUB_CONNECTOR_ALLOW_PRIVATE:-true}"
	# Caddy's autosave.json and storage: under data/, whatever the caller's XDG_*.
	export XDG_CONFIG_HOME="$data/caddy/config" XDG_DATA_HOME="$data/caddy/data"
	write_envfile
}

# port_open reports whether host:port accepts a TCP connection.
port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

run() {
	[ -x "$bin/hubgate" ] && [ -x "$bin/hubchantier" ] || die "no binaries in $bin: run make build"
	configure
	cd "$root" || die "cannot cd to $root"
	"$bin/hubchantier" migrate || die "hubchantier migrate failed"
	"$bin/hubchantier" seed || die "hubchantier seed failed"
	local key
	key=$("$bin/hubchantier" apikey demo --user admin@hubchantier.local) || die "hubchantier apikey demo failed"

	local stopping=0 up gw fg=0
	# Ctrl-C must stop both services and exit 0. GNU make re-raises a SIGINT
	# it receives (exit 130, "Interrupt"), so on a terminal make must not
	# get it: with job control (set -m) each service runs in a background
	# process group of its own and the foreground job that waits for them
	# below gets the terminal, so Ctrl-C interrupts that job alone; this
	# script then stops both services with SIGTERM and exits 0. Without a
	# terminal (make started by a script), a SIGINT to make's process group
	# reaches the services, which stop on it gracefully, and make exits 0
	# too (it ignores SIGINT when started in the background).
	if [ -t 0 ] && [ -t 2 ] && set -m 2>/dev/null; then fg=1; fi
	trap 'stopping=1' INT TERM
	"$bin/hubchantier" serve & up=$!
	"$bin/hubgate" run --config Caddyfile --adapter caddyfile & gw=$!

	local host=${HUB_LISTEN%:*} port=${HUB_LISTEN##*:} i
	host=${host:-localhost}
	for i in $(seq 1 100); do
		port_open "${host/#localhost/127.0.0.1}" "$port" && break
		kill -0 "$gw" 2>/dev/null && kill -0 "$up" 2>/dev/null || break
		sleep 0.1
	done
	if [ "$stopping" = 0 ] && kill -0 "$gw" 2>/dev/null && kill -0 "$up" 2>/dev/null; then
		echo
		echo "hubgate on $HUB_LISTEN -> Hub Chantier on $HUB_UPSTREAM (settings: ${envfile#"$root"/})"
		echo "demo API key (shown once): $key"
		echo "try:  curl -s -H 'Authorization: Bearer $key' 'http://$host:$port/api/v1/chantiers?limit=2'"
		echo "console: open http://$host:$port/console/ (conducteur@hubchantier.local / demo-password)"
		echo "Ctrl-C stops both; make reload applies an edited Caddyfile or data/hubgate.env."
	fi

	# Until one process ends (or a signal interrupts the wait): then stop
	# the other and collect both.
	local first
	if [ "$fg" = 1 ]; then
		# The foreground job: it ends when a service does (status 0), or on
		# Ctrl-C (130).
		(
			trap 'exit 130' INT TERM
			while kill -0 "$up" 2>/dev/null && kill -0 "$gw" 2>/dev/null; do sleep 0.5; done
		)
		first=$?
		set +m
	else
		wait -n "$up" "$gw"
		first=$?
	fi
	[ $first -gt 128 ] && stopping=1
	trap - INT TERM
	kill -TERM "$up" "$gw" 2>/dev/null || true
	local rc_up=0 rc_gw=0
	wait "$up"; rc_up=$?
	wait "$gw"; rc_gw=$?
	# Exit statuses of a service that stopped on a signal: 0 (both handle
	# SIGINT/SIGTERM gracefully), 130 or 143 (killed before they could).
	ok() { [ "$1" = 0 ] || [ "$1" = 130 ] || [ "$1" = 143 ]; }
	if [ "$stopping" = 1 ] || { ok $rc_up && ok $rc_gw && [ $first = 0 ]; }; then
		echo "stopped."
		exit 0
	fi
	echo "dev.sh: a service exited on its own (hubchantier: $rc_up, hubgate: $rc_gw); see the log above" >&2
	exit 1
}

reload() {
	[ -f "$envfile" ] || die "no $envfile: start the gateway with make run first (it writes that file)"
	[ -x "$bin/hubgate" ] || die "no $bin/hubgate: run make build"
	local name
	for name in $(compgen -e | grep -E '^HUB_'); do unset "$name"; done
	unset XDG_CONFIG_HOME XDG_DATA_HOME
	load_envfile
	cd "$root" || die "cannot cd to $root"
	exec "$bin/hubgate" reload --config Caddyfile --adapter caddyfile --address "${HUB_ADMIN_LISTEN:-localhost:2019}"
}

# config: what `run` would start with, recorded in data/hubgate.env and
# printed without the secrets.
config() {
	configure
	grep -vE '^HUB_(GATEWAY_SECRET|ANOMALY_WEBHOOK_SECRET)=' "$envfile"
}

case "${1:-}" in
run) run ;;
reload) reload ;;
config) config ;;
*) die "usage: deploy/dev.sh run|reload|config" ;;
esac
