package app

import (
	"runtime/debug"
	"testing"
)

func TestTuneGC(t *testing.T) {
	before := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(before) })

	if got := TuneGC(func(string) string { return "" }); got != "400" {
		t.Errorf("TuneGC without GOGC = %q, want 400", got)
	}
	if p := debug.SetGCPercent(100); p != ServerGCPercent {
		t.Errorf("GC percent %d after TuneGC, want %d", p, ServerGCPercent)
	}
	env := map[string]string{"GOGC": "off"}
	if got := TuneGC(func(k string) string { return env[k] }); got != "off" {
		t.Errorf("TuneGC with GOGC=off = %q, want off", got)
	}
	if p := debug.SetGCPercent(100); p != 100 {
		t.Errorf("GC percent %d after TuneGC with GOGC set, want it left alone (100)", p)
	}
}
