package clock

import (
	"sync"
	"testing"
	"time"
)

var start = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// fired reports whether t has fired, without blocking.
func fired(t Timer) (time.Time, bool) {
	select {
	case at := <-t.C():
		return at, true
	default:
		return time.Time{}, false
	}
}

// waitFired waits (in real time, generously) for t to fire.
func waitFired(tb testing.TB, t Timer, within time.Duration) time.Time {
	tb.Helper()
	select {
	case at := <-t.C():
		return at
	case <-time.After(within):
		tb.Fatalf("timer did not fire within %s", within)
		return time.Time{}
	}
}

func TestFakeAdvanceFiresDueTimersInOrder(t *testing.T) {
	f := NewFake(start)
	t1 := f.NewTimer(time.Hour)
	t2 := f.NewTimer(30 * time.Minute)
	t3 := f.NewTimer(2 * time.Hour)
	if got := f.Waiters(); got != 3 {
		t.Fatalf("Waiters = %d, want 3", got)
	}
	if d, ok := f.NextDeadline(); !ok || !d.Equal(start.Add(30*time.Minute)) {
		t.Fatalf("NextDeadline = %v, %v; want %v", d, ok, start.Add(30*time.Minute))
	}
	f.Advance(59 * time.Minute)
	if _, ok := fired(t1); ok {
		t.Fatal("1h timer fired at 59m")
	}
	if at, ok := fired(t2); !ok || !at.Equal(start.Add(59*time.Minute)) {
		t.Fatalf("30m timer: fired=%v at %v", ok, at)
	}
	f.Advance(time.Minute)
	if _, ok := fired(t1); !ok {
		t.Fatal("1h timer did not fire at exactly 1h")
	}
	if _, ok := fired(t3); ok {
		t.Fatal("2h timer fired at 1h")
	}
	if got := f.Waiters(); got != 1 {
		t.Fatalf("Waiters = %d, want 1", got)
	}
	if !f.Now().Equal(start.Add(time.Hour)) {
		t.Fatalf("Now = %v", f.Now())
	}
}

func TestFakeStopAndSet(t *testing.T) {
	tests := []struct {
		name     string
		stopAt   time.Duration // advance before Stop
		wantStop bool
	}{
		{"stop before deadline", 10 * time.Second, true},
		{"stop after firing", 2 * time.Minute, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := NewFake(start)
			tm := f.NewTimer(time.Minute)
			f.Advance(tc.stopAt)
			if got := tm.Stop(); got != tc.wantStop {
				t.Fatalf("Stop = %v, want %v", got, tc.wantStop)
			}
			if f.Waiters() != 0 {
				t.Fatalf("Waiters = %d after Stop", f.Waiters())
			}
			f.Advance(time.Hour)
			if _, ok := fired(tm); ok != !tc.wantStop {
				t.Fatalf("fired = %v, want %v", ok, !tc.wantStop)
			}
		})
	}
	t.Run("set never goes backwards", func(t *testing.T) {
		f := NewFake(start)
		f.Set(start.Add(-time.Hour))
		if !f.Now().Equal(start) {
			t.Fatalf("Now = %v, want %v", f.Now(), start)
		}
		tm := f.NewTimer(time.Hour)
		f.Set(start.Add(time.Hour))
		if _, ok := fired(tm); !ok {
			t.Fatal("Set to the deadline did not fire the timer")
		}
	})
	t.Run("non-positive duration fires at once", func(t *testing.T) {
		f := NewFake(start)
		if _, ok := fired(f.NewTimer(0)); !ok {
			t.Fatal("NewTimer(0) did not fire")
		}
		if f.Waiters() != 0 {
			t.Fatalf("Waiters = %d", f.Waiters())
		}
	})
}

// TestFakeConcurrent exercises the Fake from many goroutines; -race checks it.
func TestFakeConcurrent(t *testing.T) {
	f := NewFake(start)
	var wg sync.WaitGroup
	const n = 50
	timers := make(chan Timer, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tm := f.NewTimer(time.Duration(i+1) * time.Second)
			if i%5 == 0 {
				tm.Stop()
				return
			}
			timers <- tm
			_ = f.Now()
			_, _ = f.NextDeadline()
		}()
	}
	for range 10 {
		wg.Add(1)
		go func() { defer wg.Done(); f.Advance(time.Second) }()
	}
	wg.Wait()
	close(timers)
	f.Advance(time.Hour)
	count := 0
	for tm := range timers {
		if _, ok := fired(tm); !ok {
			t.Fatal("a timer did not fire after advancing past every deadline")
		}
		count++
	}
	if count != n-n/5 {
		t.Fatalf("got %d live timers, want %d", count, n-n/5)
	}
	if f.Waiters() != 0 {
		t.Fatalf("Waiters = %d", f.Waiters())
	}
}

func TestShiftedNowIncludesOffset(t *testing.T) {
	s := NewShifted()
	before := time.Now()
	s.Advance(24 * time.Hour)
	s.Advance(-time.Hour) // ignored
	got := s.Now()
	after := time.Now()
	if s.Offset() != 24*time.Hour {
		t.Fatalf("Offset = %v", s.Offset())
	}
	if got.Before(before.Add(24*time.Hour)) || got.After(after.Add(24*time.Hour)) {
		t.Fatalf("Now = %v, want between %v and %v", got, before.Add(24*time.Hour), after.Add(24*time.Hour))
	}
}

func TestShiftedTimers(t *testing.T) {
	t.Run("advance fires due timers only", func(t *testing.T) {
		s := NewShifted()
		short := s.NewTimer(8 * time.Hour)
		long := s.NewTimer(48 * time.Hour)
		s.Advance(8*time.Hour + time.Second)
		at := waitFired(t, short, 5*time.Second)
		if at.Before(time.Now().Add(8 * time.Hour)) {
			t.Fatalf("fired at %v, before the shifted deadline", at)
		}
		if _, ok := fired(long); ok {
			t.Fatal("48h timer fired after advancing 8h")
		}
		if s.Waiters() != 1 {
			t.Fatalf("Waiters = %d, want 1", s.Waiters())
		}
		if !long.Stop() {
			t.Fatal("Stop of a pending timer returned false")
		}
		if long.Stop() {
			t.Fatal("second Stop returned true")
		}
		s.Advance(100 * time.Hour)
		if _, ok := fired(long); ok {
			t.Fatal("stopped timer fired")
		}
	})
	t.Run("real time fires timers", func(t *testing.T) {
		s := NewShifted()
		s.Advance(time.Hour)
		tm := s.NewTimer(20 * time.Millisecond)
		waitFired(t, tm, 10*time.Second)
		if tm.Stop() {
			t.Fatal("Stop after firing returned true")
		}
		if s.Waiters() != 0 {
			t.Fatalf("Waiters = %d", s.Waiters())
		}
	})
	t.Run("non-positive duration fires at once", func(t *testing.T) {
		s := NewShifted()
		if _, ok := fired(s.NewTimer(-time.Second)); !ok {
			t.Fatal("NewTimer(-1s) did not fire")
		}
	})
}

// TestShiftedConcurrent mixes real expiry, Advance and Stop; -race checks it.
func TestShiftedConcurrent(t *testing.T) {
	s := NewShifted()
	var wg sync.WaitGroup
	const n = 40
	timers := make([]Timer, n)
	for i := range n {
		timers[i] = s.NewTimer(time.Duration(i%4) * time.Millisecond * 5)
	}
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i%3 == 0 {
				timers[i].Stop()
			}
			s.Advance(time.Millisecond)
			_ = s.Now()
		}()
	}
	wg.Wait()
	s.Advance(time.Hour)
	for i, tm := range timers {
		select {
		case <-tm.C():
		default:
			// A timer stopped before it fired never fires; any other has
			// fired by now, since the clock moved past every deadline.
			if i%3 != 0 {
				t.Fatalf("timer %d did not fire", i)
			}
		}
	}
	if s.Waiters() != 0 {
		t.Fatalf("Waiters = %d", s.Waiters())
	}
}

func TestRealClock(t *testing.T) {
	var c Clock = Real{}
	if d := time.Since(c.Now()); d < 0 || d > time.Minute {
		t.Fatalf("Real.Now is %v away from time.Now", d)
	}
	tm := c.NewTimer(time.Millisecond)
	waitFired(t, tm, 10*time.Second)
	if tm.Stop() {
		t.Fatal("Stop after firing returned true")
	}
}

// TestFakeNeverGoesBackwards checks that a negative Advance is ignored, as
// Set ignores an earlier time and Shifted a negative Advance: the delivery
// engine and the rate limiter assume time never goes back.
func TestFakeNeverGoesBackwards(t *testing.T) {
	f := NewFake(start)
	f.Advance(-time.Hour)
	if got := f.Now(); !got.Equal(start) {
		t.Errorf("after Advance(-1h) Now() = %v, want %v", got, start)
	}
}
