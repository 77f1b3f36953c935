package cli

import (
	"time"

	"github.com/spf13/cobra"

	"github.com/asana-webhooks/asana-webhooks/internal/app"
	"github.com/asana-webhooks/asana-webhooks/internal/demo"
)

// demoOptions are the flags of the demo command.
type demoOptions struct {
	once bool
	pace time.Duration
}

func newDemoCmd(a *App) *cobra.Command {
	var o demoOptions
	cmd := &cobra.Command{
		Use:   "demo [--once] [--pace DURATION]",
		Short: "See everything the tool does, with no account, token or tunnel",
		Long: `Start a local Asana (the emulator) and the webhook inspector in this process,
on free loopback ports, with a store in a temporary directory (removed at exit).
The inspector creates a filtered webhook on the seeded project (you see the
handshake), then a scene of project work plays at a human pace: tasks created,
renamed, followed, assigned, given a due date, commented on, moved between
sections, completed and deleted, a subtask, and a description edit that the
webhook's filter leaves out (and so is not delivered). Every delivery is
verified, stored and shown as it arrives, here and in the web UI (the demo
prints its address). The emulator's clock then jumps 8 hours to show a
heartbeat, and the demo forges a delivery and a second handshake, which the
receiver refuses.

Without --once the demo keeps running after the scene, so you can make your own
changes (it prints how); Ctrl+C deletes the webhook, prints a summary and exits
0. With --once it does that right after the scene, quickly. The summary is
counted from the emulator's delivery records and the inspector's store; the
last line is the same summary as one JSON object after "summary (JSON): ".
The exit code is 1 if the two sides disagree.`,
		Example: `  # The whole tour, at a human pace; Ctrl+C when you have seen enough
  asana-webhooks demo

  # Quickly, once (under 30 seconds), e.g. in CI
  asana-webhooks demo --once

  # Only the summary, as JSON
  asana-webhooks demo --once | sed -n 's/^summary (JSON): //p' | jq .`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			app.TuneGC(a.Getenv)
			if cmd.Flags().Changed("pace") && o.pace <= 0 {
				return usageErrorf("--pace %s: want a positive duration such as 1.5s", o.pace)
			}
			_, err := demo.Run(cmd.Context(), demo.Config{
				Once:   o.once,
				Pace:   o.pace,
				Stdout: a.Stdout,
				Stderr: a.Stderr,
			})
			return err
		},
	}
	f := cmd.Flags()
	f.BoolVar(&o.once, "once", false, "play the scene quickly, then clean up and exit")
	f.DurationVar(&o.pace, "pace", 0, "pause between the scene's steps (default 1.5s, or 200ms with --once)")
	return cmd
}
