package password

import (
	"slices"
	"sync"
)

// slots is the hasher's semaphore, shared fairly between clients. A client
// may take any free slot while no other client waits; while others wait it
// may hold at most share slots (half of them, rounded up), so one client
// flooding the hasher cannot keep another out. Waiting is first come, first
// served among the clients within their share. With share rounded up, two
// clients at their share fill every slot, so no slot is ever left idle
// while someone waits.
type slots struct {
	mu       sync.Mutex
	capacity int
	share    int
	inUse    int
	// held counts the slots each client holds; waiting counts each client's
	// calls in queue, which is in arrival order.
	held    map[string]int
	waiting map[string]int
	queue   []*slotWaiter
}

// slotWaiter is a call waiting for a slot: granted is closed when it gets
// one (and ok set, under the lock).
type slotWaiter struct {
	client  string
	granted chan struct{}
	ok      bool
}

func newSlots(capacity int) *slots {
	return &slots{capacity: capacity, share: (capacity + 1) / 2, held: map[string]int{}, waiting: map[string]int{}}
}

// take queues a call of client and hands out what is free: it returns nil
// when the call got a slot at once, else the waiter to wait on.
func (s *slots) take(client string) *slotWaiter {
	s.mu.Lock()
	defer s.mu.Unlock()
	w := &slotWaiter{client: client, granted: make(chan struct{})}
	s.queue = append(s.queue, w)
	s.waiting[client]++
	s.dispatch()
	if w.ok {
		return nil
	}
	return w
}

// release gives back a slot client held.
func (s *slots) release(client string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.inUse--
	if s.held[client]--; s.held[client] == 0 {
		delete(s.held, client)
	}
	s.dispatch()
}

// abandon withdraws a waiting call that gives up; a slot granted to it
// meanwhile is given back.
func (s *slots) abandon(w *slotWaiter) {
	s.mu.Lock()
	granted := w.ok
	if !granted {
		s.queue = slices.DeleteFunc(s.queue, func(q *slotWaiter) bool { return q == w })
		s.unwait(w.client)
		// The queue changed: a client that others kept within its share
		// may now take a free slot.
		s.dispatch()
	}
	s.mu.Unlock()
	if granted {
		s.release(w.client)
	}
}

// dispatch grants free slots to the first waiters that may have them.
// Called with mu held.
func (s *slots) dispatch() {
	for s.inUse < s.capacity {
		i := slices.IndexFunc(s.queue, s.mayTake)
		if i < 0 {
			return
		}
		w := s.queue[i]
		s.queue = slices.Delete(s.queue, i, i+1)
		s.unwait(w.client)
		s.inUse++
		s.held[w.client]++
		w.ok = true
		close(w.granted)
	}
}

// mayTake reports whether w's client may take a free slot now: within its
// share, or with no other client waiting.
func (s *slots) mayTake(w *slotWaiter) bool {
	if s.held[w.client] < s.share {
		return true
	}
	others := len(s.waiting)
	if s.waiting[w.client] > 0 {
		others--
	}
	return others == 0
}

func (s *slots) unwait(client string) {
	if s.waiting[client]--; s.waiting[client] == 0 {
		delete(s.waiting, client)
	}
}
