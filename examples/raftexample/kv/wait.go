package kv

import "sync"

// waiters hands the outcome of applying a proposal to the request that
// proposed it.
type waiters struct {
	mu sync.Mutex
	m  map[uint64]chan error
}

func newWaiters() *waiters { return &waiters{m: map[uint64]chan error{}} }

// register returns the channel that receives id's outcome.
func (w *waiters) register(id uint64) <-chan error {
	ch := make(chan error, 1)
	w.mu.Lock()
	w.m[id] = ch
	w.mu.Unlock()
	return ch
}

// cancel forgets id.
func (w *waiters) cancel(id uint64) {
	w.mu.Lock()
	delete(w.m, id)
	w.mu.Unlock()
}

// trigger delivers id's outcome if someone is waiting for it.
func (w *waiters) trigger(id uint64, err error) {
	w.mu.Lock()
	ch, ok := w.m[id]
	delete(w.m, id)
	w.mu.Unlock()
	if ok {
		ch <- err
	}
}

// failAll delivers err to everyone waiting.
func (w *waiters) failAll(err error) {
	w.mu.Lock()
	m := w.m
	w.m = map[uint64]chan error{}
	w.mu.Unlock()
	for _, ch := range m {
		ch <- err
	}
}
