package app

import (
	"runtime/debug"
	"strconv"
)

// ServerGCPercent is the garbage collector's target (GOGC) of the commands
// that serve deliveries: inspect, demo, emulate and bench. Their live heap is
// a few MB, so with Go's default of 100 the heap goal sits at its 4 MB floor
// and, under load, the collector runs about a hundred times a second, each
// time stopping the single store writer for a moment. At 400 the goal is
// five times the live heap (16 MB at least): some MB more memory, a quarter
// of the collections.
const ServerGCPercent = 400

// TuneGC sets the collector's target to ServerGCPercent, unless the
// environment (getenv) sets GOGC, which the Go runtime has then applied
// already. It returns the GOGC in effect, such as "400".
func TuneGC(getenv func(string) string) string {
	if v := getenv("GOGC"); v != "" {
		return v
	}
	debug.SetGCPercent(ServerGCPercent)
	return strconv.Itoa(ServerGCPercent)
}
