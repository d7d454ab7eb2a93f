package hubcache

import (
	"container/list"
	"sync"
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

// clear drops everything (after the store came back from an outage, when
// invalidations may have been missed).
func (c *l1) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ll.Init()
	c.items = map[string]*list.Element{}
	c.bytes = 0
}

func (c *l1) len() (int, int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ll.Len(), c.bytes
}
