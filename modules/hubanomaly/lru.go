package hubanomaly

import (
	"container/list"
	"hash/maphash"
	"sync"
)

// shards spreads principals over independent locks so that two cores
// rarely wait on each other.
const shards = 16

// principals maps principal keys to their state, with at most max entries
// (split evenly over the shards); the least recently seen principal is
// forgotten first. Forgetting a principal only restarts its windows (and
// its spike warm-up), so eviction can delay a detection, never invent one.
type principals struct {
	seed   maphash.Seed
	shards [shards]shard
}

type shard struct {
	mu    sync.Mutex
	max   int
	byKey map[string]*list.Element
	order *list.List // front = most recent
}

type entry struct {
	key string
	st  state
}

func newPrincipals(max int) *principals {
	p := &principals{seed: maphash.MakeSeed()}
	per := max / shards
	if per < 1 {
		per = 1
	}
	for i := range p.shards {
		p.shards[i] = shard{max: per, byKey: make(map[string]*list.Element), order: list.New()}
	}
	return p
}

// with runs f on the state of key (created when absent) under its shard's
// lock. f must not block.
func (p *principals) with(key string, f func(*state)) {
	s := &p.shards[maphash.String(p.seed, key)%shards]
	s.mu.Lock()
	defer s.mu.Unlock()
	if el, ok := s.byKey[key]; ok {
		s.order.MoveToFront(el)
		f(&el.Value.(*entry).st)
		return
	}
	if s.order.Len() >= s.max {
		old := s.order.Back()
		s.order.Remove(old)
		delete(s.byKey, old.Value.(*entry).key)
	}
	e := &entry{key: key}
	s.byKey[key] = s.order.PushFront(e)
	f(&e.st)
}

// len counts the principals held (tests).
func (p *principals) len() int {
	n := 0
	for i := range p.shards {
		s := &p.shards[i]
		s.mu.Lock()
		n += s.order.Len()
		s.mu.Unlock()
	}
	return n
}
