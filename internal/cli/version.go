package cli

import (
	"fmt"
	"runtime"
	"strings"

	"github.com/spf13/cobra"
)

func newVersionCmd(a *App) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Long: `Print the version of asana-webhooks, the Go version it was built with and the
platform. Release builds set the version with
-ldflags "-X main.version=v1.2.3"; "go install ...@v1.2.3" records it too.`,
		Example: `  asana-webhooks version`,
		Args:    usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprint(cmd.OutOrStdout(), a.versionLine())
			return err
		},
	}
}

// versionLine is what both "version" and "--version" print.
func (a *App) versionLine() string {
	return fmt.Sprintf("asana-webhooks %s (%s %s/%s)\n", a.Version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

// newHelpCmd replaces cobra's help command, which answers an unknown topic
// with exit 0: here it is a usage error (exit 2) like an unknown command.
func newHelpCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "help [command]",
		Short: "Help about any command",
		Long:  `Help provides help for any command in the application.`,
		Example: `  asana-webhooks help inspect
  asana-webhooks help webhooks create`,
		RunE: func(c *cobra.Command, args []string) error {
			target, rest, err := c.Root().Find(args)
			if target == nil || err != nil || len(rest) > 0 {
				return usageErrorf("unknown help topic %q", strings.Join(args, " "))
			}
			target.InitDefaultHelpFlag()
			return target.Help()
		},
	}
}
