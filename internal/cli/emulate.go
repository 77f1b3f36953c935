package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/asana-webhooks/asana-webhooks/emulator"
	"github.com/asana-webhooks/asana-webhooks/emulator/clock"
	"github.com/asana-webhooks/asana-webhooks/emulator/delivery"
	"github.com/asana-webhooks/asana-webhooks/internal/app"
)

// emulateOptions are the flags of the emulate command.
type emulateOptions struct {
	addr        string
	tokens      []string
	seed        string
	strict      bool
	rateLimit   int
	batchWindow time.Duration
	deadline    time.Duration
	json        bool
}

// Environment variables of the emulate command; a flag beats its variable.
const (
	envEmulatorAddr        = "ASANA_EMULATOR_ADDR"
	envEmulatorTokens      = "ASANA_EMULATOR_TOKENS"
	envEmulatorSeed        = "ASANA_EMULATOR_SEED"
	envEmulatorStrict      = "ASANA_EMULATOR_STRICT"
	envEmulatorRateLimit   = "ASANA_EMULATOR_RATE_LIMIT"
	envEmulatorBatchWindow = "ASANA_EMULATOR_BATCH_WINDOW"
	envEmulatorDeadline    = "ASANA_EMULATOR_DEADLINE"
	envEmulatorJSON        = "ASANA_EMULATOR_JSON"
)

func newEmulateCmd(a *App) *cobra.Command {
	o := emulateOptions{
		addr:      "127.0.0.1:9000",
		rateLimit: emulator.DefaultRateLimit,
		deadline:  10 * time.Second,
	}
	cmd := &cobra.Command{
		Use:   "emulate",
		Short: "Run a local emulator of Asana's webhooks and events API",
		Long: `Run a local Asana: users, workspaces, projects, sections, tasks and stories
whose changes emit Asana's events; webhooks with the handshake, signed and
batched deliveries, retries with backoff, heartbeats and deletion after 24 h of
failures; /events with sync tokens; Asana's errors and rate limits.

Each --token is a user, a member of the seeded workspace and project. At start
the command prints the API base URL, the token(s), the seeded gids and the
admin URL. The admin API under /_emulator/ moves the clock (skip 8 h to the
next heartbeat), sets faults, injects events and lists every delivery; see
emulator/README.md. Ctrl+C stops it.

Flags have environment variables: ASANA_EMULATOR_ADDR, ASANA_EMULATOR_TOKENS
(comma-separated), ASANA_EMULATOR_SEED, ASANA_EMULATOR_STRICT,
ASANA_EMULATOR_RATE_LIMIT, ASANA_EMULATOR_BATCH_WINDOW, ASANA_EMULATOR_DEADLINE,
ASANA_EMULATOR_JSON.

--json prints the same start information as one JSON object on stdout, for
scripts: {"url", "api_url", "admin_url", "workspace_gid", "project_gid",
"tokens": [{"token", "user_gid"}]}.`,
		Example: `  # Start it, then point any Asana client at it
  asana-webhooks emulate
  ASANA_API_URL=http://127.0.0.1:9000/api/1.0 ASANA_PAT=emulator-token \
      asana-webhooks webhooks list --workspace 1200000000000003

  # Two users, your own data, free-tier rate limit, production's target rules
  asana-webhooks emulate --token alice --token bob --seed seed.yaml \
      --rate-limit 150 --strict

  # Skip to the next heartbeat
  curl -X POST localhost:9000/_emulator/clock/advance -d '{"duration":"8h"}'

  # On a free port, for a script: read the address from the JSON line
  asana-webhooks emulate --addr 127.0.0.1:0 --json > emulator.json &`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			app.TuneGC(a.Getenv)
			return a.runEmulate(cmd.Context(), cmd, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.addr, "addr", o.addr, "listen address")
	f.StringArrayVar(&o.tokens, "token", nil, "accepted bearer token, repeatable; each is a user (default \""+emulator.DefaultToken+"\")")
	f.StringVar(&o.seed, "seed", "", "seed file, YAML or JSON: users, workspaces, projects, sections, tasks (default: built-in Acme Corp seed)")
	f.BoolVar(&o.strict, "strict", false, "reject localhost, loopback and plain-http webhook targets with 403, like production")
	f.IntVar(&o.rateLimit, "rate-limit", o.rateLimit, "requests per minute per token: 1500 paid plans, 150 free tier, 0 off")
	f.DurationVar(&o.batchWindow, "batch-window", 0, "how long events gather before a delivery")
	f.DurationVar(&o.deadline, "deadline", o.deadline, "per-delivery response deadline")
	f.BoolVar(&o.json, "json", false, "print the start information as one JSON object on stdout")
	for flag, env := range map[string]string{
		"addr": envEmulatorAddr, "token": envEmulatorTokens, "seed": envEmulatorSeed,
		"strict": envEmulatorStrict, "rate-limit": envEmulatorRateLimit,
		"batch-window": envEmulatorBatchWindow, "deadline": envEmulatorDeadline,
		"json": envEmulatorJSON,
	} {
		setFlagEnv(f, flag, env)
	}
	return cmd
}

func (a *App) runEmulate(ctx context.Context, cmd *cobra.Command, o emulateOptions) error {
	if _, _, err := net.SplitHostPort(o.addr); err != nil {
		return usageErrorf("--addr %q: want host:port, such as 127.0.0.1:9000", o.addr)
	}
	if o.rateLimit < 0 {
		return usageErrorf("--rate-limit %d: want 0 (off) or a positive number", o.rateLimit)
	}
	if o.batchWindow < 0 {
		return usageErrorf("--batch-window %s: want 0 or a positive duration", o.batchWindow)
	}
	if o.deadline <= 0 {
		return usageErrorf("--deadline %s: want a positive duration such as 10s", o.deadline)
	}
	for _, t := range o.tokens {
		if strings.TrimSpace(t) == "" || strings.ContainsAny(t, " \t\r\n") {
			return usageErrorf("--token %q: a token cannot be empty or contain spaces", t)
		}
	}
	cfg := emulator.Config{
		Addr:     o.addr,
		Tokens:   o.tokens,
		Clock:    clock.NewShifted(),
		Strict:   o.strict,
		Delivery: delivery.Config{BatchWindow: o.batchWindow, Deadline: o.deadline},
		Logger:   a.Log,
	}
	cfg.RateLimit = o.rateLimit
	if o.rateLimit == 0 {
		cfg.RateLimit = -1 // off
	}
	if o.seed != "" {
		seed, err := emulator.LoadSeed(o.seed)
		if err != nil {
			return &configError{err: err}
		}
		cfg.Seed = seed
	}
	srv, err := emulator.Start(cfg)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return fmt.Errorf("%w (is another emulator running? pick another --addr)", err)
		}
		return err
	}
	out := cmd.OutOrStdout()
	if o.json {
		info := emulatorInfo{URL: srv.URL(), APIURL: srv.BaseURL(), AdminURL: srv.AdminURL(),
			WorkspaceGID: srv.WorkspaceGID(), ProjectGID: srv.ProjectGID(), Tokens: []emulatorToken{}}
		for _, t := range srv.Tokens() {
			user, _ := srv.UserGID(t)
			info.Tokens = append(info.Tokens, emulatorToken{Token: t, UserGID: user})
		}
		if err := writeJSONLine(out, info); err != nil {
			_ = srv.Close()
			return err
		}
		return a.waitEmulator(ctx, srv)
	}
	fmt.Fprintf(out, "Asana emulator listening on %s\n", srv.URL())
	fmt.Fprintf(out, "  API base URL:   %s\n", srv.BaseURL())
	for i, t := range srv.Tokens() {
		user, _ := srv.UserGID(t)
		fmt.Fprintf(out, "  token %d:        %s (user %s)\n", i+1, t, user)
	}
	fmt.Fprintf(out, "  workspace gid:  %s\n", srv.WorkspaceGID())
	fmt.Fprintf(out, "  project gid:    %s\n", srv.ProjectGID())
	fmt.Fprintf(out, "  admin API:      %s/ (see emulator/README.md)\n", srv.AdminURL())
	fmt.Fprintf(out, "Try: ASANA_API_URL=%s ASANA_PAT=%s asana-webhooks webhooks list --workspace %s\n",
		srv.BaseURL(), srv.Token(), srv.WorkspaceGID())
	fmt.Fprintln(out, "Press Ctrl+C to stop.")
	return a.waitEmulator(ctx, srv)
}

// emulatorInfo is emulate's --json line.
type emulatorInfo struct {
	URL          string          `json:"url"`
	APIURL       string          `json:"api_url"`
	AdminURL     string          `json:"admin_url"`
	WorkspaceGID string          `json:"workspace_gid"`
	ProjectGID   string          `json:"project_gid"`
	Tokens       []emulatorToken `json:"tokens"`
}

// emulatorToken is one accepted token and the user it stands for.
type emulatorToken struct {
	Token   string `json:"token"`
	UserGID string `json:"user_gid"`
}

// waitEmulator serves until ctx ends (Ctrl+C), then stops srv.
func (a *App) waitEmulator(ctx context.Context, srv *emulator.Server) error {
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("stop emulator: %w", err)
	}
	fmt.Fprintln(a.Stderr, "emulator stopped")
	return nil
}
