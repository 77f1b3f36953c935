// Package cli is the asana-webhooks command tree. Main runs one invocation
// against an Env (standard streams, environment, working directory), so tests
// run the real program in-process; nothing here keeps package-level state.
//
// Exit codes: 0 success (including a long-running command such as events
// stopped by Ctrl+C or SIGTERM); 1 runtime or API error; 2 usage or
// configuration error (unknown command or flag, bad value, missing token);
// 130 when an interrupt cut short a command that had not finished.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/asana-webhooks/asana-webhooks/internal/config"
)

// Exit codes returned by Main.
const (
	ExitOK          = 0
	ExitError       = 1
	ExitUsage       = 2
	ExitInterrupted = 130
)

// Env is everything one invocation takes from its surroundings.
type Env struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// Getenv reads the process environment (os.Getenv in main).
	Getenv func(string) string
	// WorkDir is the working directory, whose .env is read.
	WorkDir string
	// Version is the program version; empty means "from the build info".
	Version string
}

// App is what every command constructor receives: the Env, the global
// options, and lazily the configuration and the API client built from them.
type App struct {
	Env
	// Log writes diagnostics to Stderr.
	Log *slog.Logger

	global     globalOptions
	cfg        *config.Config
	warned     bool
	runStarted bool
}

// globalOptions are the persistent flags shared by every command.
type globalOptions struct {
	token     string
	apiURL    string
	workspace string
	project   string
	dataDir   string
}

// Main runs the program with args (without the program name) and returns the
// exit code. ctx is cancelled on SIGINT or SIGTERM.
func Main(ctx context.Context, args []string, env Env) int {
	app := NewApp(env)
	return app.execute(ctx, app.rootCommand(), args)
}

// execute runs root with args and returns the exit code.
func (a *App) execute(ctx context.Context, root *cobra.Command, args []string) int {
	if args == nil {
		args = []string{} // cobra reads os.Args when given nil
	}
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	return a.exitCode(ctx, cmd, err)
}

// NewApp fills the defaults of env and returns an App.
func NewApp(env Env) *App {
	if env.Stdin == nil {
		env.Stdin = strings.NewReader("")
	}
	if env.Stdout == nil {
		env.Stdout = io.Discard
	}
	if env.Stderr == nil {
		env.Stderr = io.Discard
	}
	if env.Getenv == nil {
		env.Getenv = func(string) string { return "" }
	}
	if env.Version == "" {
		env.Version = buildVersion()
	}
	return &App{
		Env: env,
		Log: slog.New(slog.NewTextHandler(env.Stderr, nil)),
	}
}

// buildVersion is the module version stamped by `go install ...@version`,
// or "devel" for a local build.
func buildVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}

// usageError is a mistake on the command line: exit 2 and a hint to --help.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

// usageErrorf returns a usage error (exit 2, followed by a --help hint).
func usageErrorf(format string, args ...any) error {
	return &usageError{err: fmt.Errorf(format, args...)}
}

// configError is a configuration problem (missing token, bad API URL): exit
// 2, printed as exactly one line.
type configError struct{ err error }

func (e *configError) Error() string { return e.err.Error() }
func (e *configError) Unwrap() error { return e.err }

// exitCode prints err and maps it to an exit code.
func (a *App) exitCode(ctx context.Context, cmd *cobra.Command, err error) int {
	if err == nil {
		return ExitOK
	}
	var ue *usageError
	var ce *configError
	switch {
	case errors.As(err, &ce):
		fmt.Fprintf(a.Stderr, "asana-webhooks: %s\n", oneLine(ce.Error()))
		return ExitUsage
	case errors.As(err, &ue) || !a.runStarted:
		// Errors raised before a command's RunE (unknown command, bad flag,
		// wrong number of arguments) are usage errors too.
		fmt.Fprintf(a.Stderr, "asana-webhooks: %s\n", oneLine(err.Error()))
		if cmd != nil {
			fmt.Fprintf(a.Stderr, "Run '%s --help' for usage.\n", cmd.CommandPath())
		}
		return ExitUsage
	case ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, ctx.Err())):
		// The interruption cut the command short. An error of its own that
		// came after Ctrl+C (inspect could not delete its webhooks, say) is
		// not hidden behind "interrupted": it is printed below, exit 1.
		fmt.Fprintln(a.Stderr, "asana-webhooks: interrupted")
		return ExitInterrupted
	default:
		fmt.Fprintf(a.Stderr, "asana-webhooks: %s\n", a.explainAPIError(err))
		return ExitError
	}
}

// oneLine folds a multi-line message into one line, so that an error is
// printed as one line without losing its cause (a driver that tried two
// connections, say, reports each on its own line). Cobra's "Did you mean
// this?" list becomes `; did you mean "x"?`.
func oneLine(s string) string {
	var parts, suggestions []string
	inSuggestions := false
	for _, line := range strings.Split(s, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "":
		case line == "Did you mean this?":
			inSuggestions = true
		case inSuggestions:
			suggestions = append(suggestions, strconv.Quote(line))
		default:
			parts = append(parts, line)
		}
	}
	out := strings.Join(parts, " ")
	if len(suggestions) > 0 {
		out += "; did you mean " + strings.Join(suggestions, " or ") + "?"
	}
	return out
}

// flagError turns pflag's errors into usage errors, keeping our own filter
// message as is and saying what a value should look like instead of
// repeating strconv's or time's message.
func flagError(_ *cobra.Command, err error) error {
	var fe *FilterError
	if errors.As(err, &fe) {
		return &usageError{err: fe}
	}
	var ive *pflag.InvalidValueError
	if errors.As(err, &ive) && ive.GetFlag() != nil {
		f := ive.GetFlag()
		return &usageError{err: fmt.Errorf("--%s %q: %s", f.Name, ive.GetValue(), valueWant(f, ive.Unwrap()))}
	}
	return &usageError{err: err}
}

// valueWant says what a value of f looks like, for a value that did not
// parse (cause is the parser's error, used for flag types not listed).
func valueWant(f *pflag.Flag, cause error) string {
	switch f.Value.Type() {
	case "int", "int64", "uint", "uint64":
		return "want a whole number"
	case "intSlice", "ints":
		return "want comma-separated whole numbers, such as 1,16,64"
	case "duration":
		return "want a duration such as 500ms, 5s, 1m30s or 2h"
	case "bool":
		return "want true, false, 1 or 0"
	}
	if cause == nil {
		return "invalid value"
	}
	return cause.Error()
}

// Config resolves the configuration once per invocation and prints its
// warnings (one line each) to Stderr the first time.
func (a *App) Config() (*config.Config, error) {
	if a.cfg == nil {
		cfg, err := config.Load(config.Source{Getenv: a.Getenv, WorkDir: a.WorkDir}, config.Flags{
			Token:     a.global.token,
			APIURL:    a.global.apiURL,
			Workspace: a.global.workspace,
			Project:   a.global.project,
			DataDir:   a.global.dataDir,
		})
		if err != nil {
			return nil, &configError{err: err}
		}
		a.cfg = cfg
	}
	if !a.warned {
		a.warned = true
		for _, w := range a.cfg.Warnings {
			fmt.Fprintf(a.Stderr, "asana-webhooks: warning: %s\n", w)
		}
	}
	return a.cfg, nil
}

// DataDir returns the data directory, created with mode 0700 if needed.
func (a *App) DataDir() (string, error) {
	cfg, err := a.Config()
	if err != nil {
		return "", err
	}
	dir, err := cfg.EnsureDataDir()
	if err != nil {
		return "", &configError{err: err}
	}
	return dir, nil
}
