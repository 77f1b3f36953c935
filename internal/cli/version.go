package cli

import (
	"fmt"
	"runtime"

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
			_, err := fmt.Fprintf(cmd.OutOrStdout(), "asana-webhooks %s (%s %s/%s)\n",
				a.Version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
			return err
		},
	}
}
