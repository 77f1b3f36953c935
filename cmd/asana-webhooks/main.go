// Command asana-webhooks is a toolkit for Asana webhooks: an API client for
// webhooks and events, and (with later commands) an inspector, an emulator
// and a demo. main only wires the process to internal/cli.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/asana-webhooks/asana-webhooks/internal/cli"
)

// version is set at link time: -ldflags "-X main.version=v1.2.3". When empty,
// the module version from the build info is used. It is written only by the
// linker.
var version string

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		// After the first signal, restore the default behaviour so that a
		// second Ctrl+C kills a shutdown that hangs.
		<-ctx.Done()
		stop()
	}()
	wd, err := os.Getwd()
	if err != nil {
		fmt.Fprintf(os.Stderr, "asana-webhooks: working directory: %v\n", err)
		os.Exit(cli.ExitError)
	}
	code := cli.Main(ctx, os.Args[1:], cli.Env{
		Stdin:   os.Stdin,
		Stdout:  os.Stdout,
		Stderr:  os.Stderr,
		Getenv:  os.Getenv,
		WorkDir: wd,
		Version: version,
	})
	stop()
	os.Exit(code)
}
