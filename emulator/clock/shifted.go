package clock

import (
	"sync"
	"time"
)

// Shifted is real time plus an offset that only grows: time flows as usual
// and Advance jumps forward, firing at once every timer whose deadline the
// jump passes. The emulator's command uses it so that deliveries run in real
// time while the admin API can skip 8 or 24 hours. It is safe for concurrent
// use.
type Shifted struct {
	mu     sync.Mutex
	offset time.Duration
	timers map[*shiftedTimer]struct{}
	now    func() time.Time // the underlying real clock
}

// NewShifted returns a Shifted clock with a zero offset.
func NewShifted() *Shifted {
	return &Shifted{timers: map[*shiftedTimer]struct{}{}, now: time.Now}
}

// Now implements Clock: real time plus the offset.
func (s *Shifted) Now() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.nowLocked()
}

func (s *Shifted) nowLocked() time.Time { return s.now().Add(s.offset) }

// Offset returns how far the clock has been advanced in total.
func (s *Shifted) Offset() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.offset
}

// NewTimer implements Clock. The timer fires when the clock's time reaches
// Now()+d, through real time passing or through Advance.
func (s *Shifted) NewTimer(d time.Duration) Timer {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := &shiftedTimer{clock: s, deadline: s.nowLocked().Add(d), c: make(chan time.Time, 1)}
	if d <= 0 {
		t.fireLocked(s.nowLocked())
		return t
	}
	s.timers[t] = struct{}{}
	t.real = time.AfterFunc(d, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if _, ok := s.timers[t]; !ok {
			return
		}
		now := s.nowLocked()
		if now.Before(t.deadline) {
			// Cannot happen while the offset only grows; kept for safety.
			t.real.Reset(t.deadline.Sub(now))
			return
		}
		delete(s.timers, t)
		t.fireLocked(now)
	})
	return t
}

// Advance moves the clock forward by d (a negative d is ignored) and fires
// every timer whose deadline is now passed.
func (s *Shifted) Advance(d time.Duration) {
	if d <= 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.offset += d
	now := s.nowLocked()
	for t := range s.timers {
		if !now.Before(t.deadline) {
			delete(s.timers, t)
			t.real.Stop()
			t.fireLocked(now)
		}
	}
}

// Waiters returns how many timers are pending.
func (s *Shifted) Waiters() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.timers)
}

type shiftedTimer struct {
	clock    *Shifted
	deadline time.Time
	c        chan time.Time
	real     *time.Timer
	fired    bool // guarded by clock.mu
}

func (t *shiftedTimer) fireLocked(now time.Time) {
	if t.fired {
		return
	}
	t.fired = true
	t.c <- now
}

func (t *shiftedTimer) C() <-chan time.Time { return t.c }

func (t *shiftedTimer) Stop() bool {
	s := t.clock
	s.mu.Lock()
	defer s.mu.Unlock()
	if t.fired {
		return false
	}
	t.fired = true
	delete(s.timers, t)
	if t.real != nil {
		t.real.Stop()
	}
	return true
}
