package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/asana-webhooks/asana-webhooks/internal/config"
)

// commandConstructors lists the top-level commands, one file per command.
// Each constructor builds its command and its options struct from app.
//
// Conventions for a command's RunE: get the API client with a.Client() (it
// checks the token first) and state with a.DataDir(); return usageErrorf(...)
// for bad input and &configError{...} for bad configuration (both exit 2),
// any other error exits 1 (130 if ctx was cancelled). A long-running command
// returns nil when ctx is cancelled, so Ctrl+C exits 0.
func commandConstructors() []func(*App) *cobra.Command {
	return []func(*App) *cobra.Command{
		newWebhooksCmd,
		newEventsCmd,
		newVersionCmd,
		// Commands added by other issues go here, one line each:
		newInspectCmd,    // internal/cli/inspect.go
		newEmulateCmd,    // internal/cli/emulate.go
		newDemoCmd,       // internal/cli/demo.go
		newDeliveriesCmd, // internal/cli/deliveries.go
		newBenchCmd,      // internal/cli/bench.go
	}
}

// rootCommand builds the command tree for one invocation.
func (a *App) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "asana-webhooks",
		Short: "Build on Asana webhooks: manage them, poll events, inspect deliveries",
		Long: `asana-webhooks is a toolkit for people who build on Asana webhooks: a webhook
inspector (receiver, web UI, cleanup on exit), a local emulator of Asana, a
zero-setup demo, a benchmark of the receiver and a complete client for
Asana's webhooks and events API.

Every flag has an environment variable, shown in its help: the globals'
ASANA_PAT (or the original Webhook Inspector's TEMP_PAT), ASANA_API_URL,
ASANA_WORKSPACE, ASANA_PROJECT, ASANA_WEBHOOKS_DATA_DIR; emulate's
ASANA_EMULATOR_*; for the others ASANA_<COMMAND>_<FLAG>, such as
ASANA_INSPECT_PUBLIC_URL or ASANA_WEBHOOKS_CREATE_TARGET. Flags beat the
environment, which beats a .env file in the working directory. Repeatable
flags take comma-separated values, booleans true, false, 1 or 0.
--api-url / ASANA_API_URL point the client at another server (an emulator, a
proxy); like ASANA_INSPECT_UI_ALLOW_REMOTE they are never read from .env, and
plain http is allowed only to a loopback address.

Exit codes: 0 success; 1 runtime or API error; 2 usage or configuration error;
130 interrupted before the command finished.`,
		Example: `  # List the webhooks of your workspace
  export ASANA_PAT=2/1234/5678:abcd
  asana-webhooks webhooks list --workspace 1200000000000001

  # Create a webhook on a project, for task changes only
  asana-webhooks webhooks create --resource 1200000000000002 \
      --target https://example.com/hook --filter task:changed

  # Print new events on a project until Ctrl+C
  asana-webhooks events --resource 1200000000000002`,
		SilenceErrors:     true,
		SilenceUsage:      true,
		CompletionOptions: cobra.CompletionOptions{HiddenDefaultCmd: true},
	}
	root.SetIn(a.Stdin)
	root.SetOut(a.Stdout)
	root.SetErr(a.Stderr)
	root.SetFlagErrorFunc(flagError)
	root.SetHelpCommand(newHelpCmd())
	// --version, as gh and stripe have it; the same line as "version".
	root.Version = a.Version
	root.SetVersionTemplate(strings.ReplaceAll(a.versionLine(), "{{", "{{`{{`}}"))

	pf := root.PersistentFlags()
	pf.StringVar(&a.global.token, "token", "", "Asana personal access token")
	pf.StringVar(&a.global.apiURL, "api-url", "", "API base URL; https, or http to a loopback host only (default \""+config.DefaultAPIURL+"\")")
	pf.StringVar(&a.global.workspace, "workspace", "", "workspace gid")
	pf.StringVar(&a.global.project, "project", "", "default resource gid of create, events and inspect")
	pf.StringVar(&a.global.dataDir, "data-dir", "", "where state is kept (default \"$XDG_DATA_HOME/asana-webhooks\" or \"~/.local/share/asana-webhooks\")")
	for flag, vars := range map[string][]string{
		"token":     {config.EnvToken, config.EnvLegacyToken},
		"api-url":   {config.EnvAPIURL},
		"workspace": {config.EnvWorkspace},
		"project":   {config.EnvProject},
		"data-dir":  {config.EnvDataDir},
	} {
		setFlagEnv(pf, flag, vars...)
		// config.Load resolves these itself, recording each one's source.
		setAnnotation(pf.Lookup(flag), annotationEnvByConfig, []string{"true"})
	}
	root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error {
		return a.applyEnv(cmd)
	}

	for _, newCmd := range commandConstructors() {
		root.AddCommand(newCmd(a))
	}
	showOnlyUsedGlobals(root)
	annotateEnv(root)
	a.markRuns(root)
	return root
}

// markRuns wraps every RunE so that Main knows whether an error came from a
// command's own work or from cobra's parsing before it (a usage error).
func (a *App) markRuns(c *cobra.Command) {
	if run := c.RunE; run != nil {
		c.RunE = func(cmd *cobra.Command, args []string) error {
			a.runStarted = true
			return run(cmd, args)
		}
	}
	for _, sub := range c.Commands() {
		a.markRuns(sub)
	}
}

// groupRunE is the RunE of a command that only groups subcommands: help
// without arguments, a usage error for an unknown subcommand.
func groupRunE(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
		if cmd.SuggestionsMinimumDistance <= 0 {
			cmd.SuggestionsMinimumDistance = 2 // cobra's default, applied only on its own path
		}
		if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
			msg += fmt.Sprintf("; did you mean %q?", s[0])
		}
		return usageErrorf("%s", msg)
	}
	return cmd.Help()
}

// usageArgs turns the error of a positional-arguments check into a usage
// error.
func usageArgs(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := check(cmd, args); err != nil {
			return &usageError{err: err}
		}
		return nil
	}
}

// globalsUsed names, for each top-level command that does not use every
// global flag, the ones it does (its subcommands included).
func globalsUsed() map[string][]string {
	return map[string][]string{
		"version":    nil,
		"demo":       nil,
		"bench":      nil,
		"emulate":    nil,
		"deliveries": {"data-dir"},
	}
}

// showOnlyUsedGlobals makes the help of the commands in globalsUsed list
// only the global flags they use: "deliveries --help" says no token is
// needed, and must not then offer --token.
func showOnlyUsedGlobals(root *cobra.Command) {
	help := root.HelpFunc()
	used := globalsUsed()
	for _, c := range root.Commands() {
		names, ok := used[c.Name()]
		if !ok {
			continue
		}
		keep := map[string]bool{"help": true}
		for _, n := range names {
			keep[n] = true
		}
		c.SetHelpFunc(func(cmd *cobra.Command, args []string) {
			var hidden []*pflag.Flag
			cmd.Root().PersistentFlags().VisitAll(func(f *pflag.Flag) {
				if !keep[f.Name] && !f.Hidden {
					f.Hidden = true
					hidden = append(hidden, f)
				}
			})
			defer func() {
				for _, f := range hidden {
					f.Hidden = false
				}
			}()
			help(cmd, args)
		})
	}
}
