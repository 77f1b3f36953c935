package cli

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/asana-webhooks/asana-webhooks/internal/app"
	"github.com/asana-webhooks/asana-webhooks/internal/bench"
)

// benchOptions are the flags of the bench command.
type benchOptions struct {
	duration    time.Duration
	concurrency []int
	dir         string
	json        bool
}

func newBenchCmd(a *App) *cobra.Command {
	o := benchOptions{duration: bench.DefaultDuration, concurrency: bench.DefaultConcurrency()}
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure the inspector's receiver against a bare HTTP handler",
		Long: `Measure how many deliveries per second the inspector's receiver verifies and
stores, and their p50 and p99 latency, over loopback, at each --concurrency.
In the same run, a bare net/http handler that answers 200 is measured the same
way, and the table shows the receiver's rate as a share of it.

The receiver is the real one: every delivery is signed, verified with the
hook's secret and committed to a fresh SQLite file (WAL, synchronous=FULL,
group commit) before its 200, exactly as in "inspect". Each delivery carries
one new event. Files go to a temporary directory unless --dir says where (the
disk under it decides the cost of fsync); they are removed at the end.

The receiver and the bare handler run in this process with the garbage
collector set as "inspect" sets it: GOGC=400 unless the environment sets GOGC.

The run takes about 2 x --duration x the number of concurrencies (18 s by
default); Ctrl+C stops it (exit 130, no report). The receiver's target, at
concurrency 16: at least 25% of the bare handler's rate and a p99 under 20 ms;
the table says whether it was met.`,
		Example: `  asana-webhooks bench
  asana-webhooks bench --duration 10s --concurrency 1,16,64
  asana-webhooks bench --json | jq '.results[] | select(.handler == "receiver")'`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.runBench(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.DurationVar(&o.duration, "duration", o.duration, "how long each handler is measured at each concurrency")
	f.IntSliceVar(&o.concurrency, "concurrency", o.concurrency, "comma-separated numbers of concurrent clients")
	f.StringVar(&o.dir, "dir", "", "directory for the SQLite files (default: a temporary directory)")
	f.BoolVar(&o.json, "json", false, "print the report as JSON")
	return cmd
}

func (a *App) runBench(ctx context.Context, o benchOptions) error {
	if o.duration <= 0 {
		return usageErrorf("--duration %s: want a positive duration such as 3s", o.duration)
	}
	if len(o.concurrency) == 0 {
		return usageErrorf("--concurrency: want at least one number, such as 1,16,64")
	}
	for _, c := range o.concurrency {
		if c < 1 || c > 1024 {
			return usageErrorf("--concurrency %d: want a number from 1 to 1024", c)
		}
	}
	if !o.json {
		levels := make([]string, len(o.concurrency))
		for i, c := range o.concurrency {
			levels[i] = strconv.Itoa(c)
		}
		total := 2 * o.duration * time.Duration(len(o.concurrency))
		fmt.Fprintf(a.Stderr, "measuring the receiver and a bare handler for %s each at concurrency %s: about %s (Ctrl+C to stop)...\n",
			o.duration, strings.Join(levels, ", "), total.Round(time.Second/10))
	}
	gogc := app.TuneGC(a.Getenv)
	rep, err := bench.Run(ctx, bench.Config{Concurrency: o.concurrency, Duration: o.duration, Dir: o.dir})
	rep.GOGC = gogc
	if ctx.Err() != nil {
		// Interrupted: a partial measurement is no report; exit 130.
		return fmt.Errorf("bench: %w", ctx.Err())
	}
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	if o.json {
		return writeJSONLine(a.Stdout, rep)
	}
	return writeBenchTable(a.Stdout, rep)
}

// writeBenchTable prints the report as a table and the verdict on the target.
func writeBenchTable(w io.Writer, rep bench.Report) error {
	tw := newTable(w)
	fmt.Fprintln(tw, "CONCURRENCY\tHANDLER\tDELIVERIES/S\tP50\tP99\tVS BARE")
	for _, r := range rep.Results {
		ratio := "-"
		if r.Handler == bench.HandlerReceiver {
			ratio = fmt.Sprintf("%.1f%%", 100*r.RatioToBare)
		}
		fmt.Fprintf(tw, "%d\t%s\t%.0f\t%s\t%s\t%s\n", r.Concurrency, r.Handler, r.Rate, benchMillis(r.P50), benchMillis(r.P99), ratio)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write table: %w", err)
	}
	fmt.Fprintln(w, "receiver: verify + commit to SQLite (WAL, synchronous=FULL) before 200; one new event per delivery")
	if rep.GOGC != "" {
		fmt.Fprintf(w, "both handlers in one process with GOGC=%s, as inspect runs (set GOGC to change it)\n", rep.GOGC)
	}
	if rep.TargetMet != nil {
		verdict := "met"
		if !*rep.TargetMet {
			verdict = "MISSED"
		}
		_, err := fmt.Fprintf(w, "target at concurrency %d (>= %.0f%% of bare, p99 < %s): %s\n",
			bench.TargetConcurrency, 100*bench.TargetRatio, bench.TargetP99, verdict)
		return err
	}
	return nil
}

// benchMillis prints a latency in milliseconds with two decimals.
func benchMillis(d time.Duration) string {
	return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
}
