package hubcache

import (
	"container/list"
	"sync"
	"time"

	"github.com/hubchantier/hubgate/modules/hub"
)

// l1 is the in-process LRU of decoded entries, bounded by count and bytes.
// With Redis it holds copies of hot entries (each use is still validated
// against the generations in Redis, so a write at any instance is seen);
// with the memory store it is the cache itself.
type l1 struct {
	mu       sync.Mutex
	maxItems int
	maxBytes int64
	bytes    int64
	ll       *list.List
	items    map[string]*list.Element
	peak     int // most items held since items was made (see hub.Shrunk)
	onEvict  func()
}

type l1Item struct {
	key  string
	e    *entry
	size int64
}

func newL1(maxItems int, maxBytes int64, onEvict func()) *l1 {
	if onEvict == nil {
		onEvict = func() {}
	}
	return &l1{maxItems: maxItems, maxBytes: maxBytes, ll: list.New(), items: map[string]*list.Element{}, onEvict: onEvict}
}

func (c *l1) get(key string) *entry {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[key]
	if !ok {
		return nil
	}
	c.ll.MoveToFront(el)
	return el.Value.(*l1Item).e
}

// add stores e; an entry larger than the whole byte budget is not kept.
func (c *l1) add(key string, e *entry) {
	if c.maxItems <= 0 {
		return
	}
	size := e.size()
	if size > c.maxBytes {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[key]; ok {
		it := el.Value.(*l1Item)
		c.bytes += size - it.size
		it.e, it.size = e, size
		c.ll.MoveToFront(el)
	} else {
		c.items[key] = c.ll.PushFront(&l1Item{key: key, e: e, size: size})
		c.bytes += size
		c.peak = max(c.peak, len(c.items))
	}
	for c.ll.Len() > c.maxItems || c.bytes > c.maxBytes {
		c.removeLocked(c.ll.Back())
		c.onEvict()
	}
}

func (c *l1) remove(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[key]; ok {
		c.removeLocked(el)
	}
}

func (c *l1) removeLocked(el *list.Element) {
	it := el.Value.(*l1Item)
	c.ll.Remove(el)
	delete(c.items, it.key)
	c.bytes -= it.size
}

// sweep drops the entries dead at now: past their lifetime (fresh time
// plus max_stale, at most maxLifetime), when not even a failing upstream
// lets them answer. The LRU alone would keep them until pushed out, which
// in a quiet cache is never. It returns how many it dropped.
func (c *l1) sweep(now time.Time) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for el := c.ll.Back(); el != nil; {
		prev := el.Prev()
		if e := el.Value.(*l1Item).e; e.age(now) >= min(e.lifetime(), maxLifetime) {
			c.removeLocked(el)
			n++
		}
		el = prev
	}
	if m, ok := hub.Shrunk(c.items, c.peak); ok {
		c.items, c.peak = m, len(m)
	}
	return n
}

// clear drops everything (after the store came back from an outage, when
// invalidations may have been missed).
func (c *l1) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ll.Init()
	c.items = map[string]*list.Element{}
	c.bytes, c.peak = 0, 0
}

func (c *l1) len() (int, int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ll.Len(), c.bytes
}
