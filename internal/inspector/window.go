package inspector

import "sync"

// HandshakeWindows says for which hooks a handshake may be accepted: the
// orchestration opens a hook's window when its create request is sent and
// closes it when the response or the timeout arrives. Opens nest: a window
// opened twice stays open until closed twice. The zero value is ready to use
// and safe for concurrent use.
type HandshakeWindows struct {
	mu   sync.Mutex
	open map[string]int
}

// Open opens the window of a hook.
func (w *HandshakeWindows) Open(hookID string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.open == nil {
		w.open = make(map[string]int)
	}
	w.open[hookID]++
}

// Close closes one opening of the window of a hook. Closing a window that is
// not open does nothing.
func (w *HandshakeWindows) Close(hookID string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.open[hookID] <= 1 {
		delete(w.open, hookID)
		return
	}
	w.open[hookID]--
}

// IsOpen reports whether a handshake for the hook may be accepted now.
func (w *HandshakeWindows) IsOpen(hookID string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.open[hookID] > 0
}
