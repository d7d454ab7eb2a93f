package hub

import "time"

// resolverSweepEvery is how often the resolver frees what no lookup can use
// any more, whether or not requests come.
const resolverSweepEvery = 30 * time.Second

// tombstoneFor is how long a revoked key id keeps an in-flight
// introspection from caching the old answer (see apply).
const tombstoneFor = time.Minute

// sweep frees the resolver's dead state on a timer (Start): key entries
// past their lifetime, tombstones past a minute, revoked jtis past the
// tokens they could match, client cuts past forgetRevokedFor. Before, only
// an introspection or a revocation event swept, so a resolver that went
// idle after a flood of unknown key ids kept every entry. Maps left much
// smaller than their peak are rebuilt (see Shrunk). User cuts stay: users
// are never recreated, so they are bounded by deletions.
func (r *Resolver) sweep() {
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.keysPeak = max(r.keysPeak, len(r.keys))
	r.dropDeadKeysLocked(now)
	r.keys = shrinkTracked(r.keys, &r.keysPeak)

	r.tombstonesPeak = max(r.tombstonesPeak, len(r.tombstones))
	for k, t := range r.tombstones {
		if now.Sub(t) > tombstoneFor {
			delete(r.tombstones, k)
		}
	}
	r.tombstones = shrinkTracked(r.tombstones, &r.tombstonesPeak)

	r.revokedJTIPeak = max(r.revokedJTIPeak, len(r.revokedJTI))
	for k, t := range r.revokedJTI {
		if now.After(t) {
			delete(r.revokedJTI, k)
		}
	}
	r.revokedJTI = shrinkTracked(r.revokedJTI, &r.revokedJTIPeak)

	r.clientCutPeak = max(r.clientCutPeak, len(r.clientCut))
	for k, t := range r.clientCut {
		if now.Sub(t) > forgetRevokedFor {
			delete(r.clientCut, k)
		}
	}
	r.clientCut = shrinkTracked(r.clientCut, &r.clientCutPeak)
}

// shrinkTracked is Shrunk for a map whose peak the caller keeps.
func shrinkTracked[K comparable, V any](m map[K]V, peak *int) map[K]V {
	if out, ok := Shrunk(m, *peak); ok {
		*peak = len(out)
		return out
	}
	return m
}
