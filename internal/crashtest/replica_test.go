package crashtest

import (
	"log/slog"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/asana-webhooks/asana-webhooks/emulator"
	"github.com/asana-webhooks/asana-webhooks/internal/postgres/pgtest"
)

// replica is an `inspect --replica` child process.
type replica struct {
	t      *testing.T
	cmd    *exec.Cmd
	out    *syncBuffer
	exited chan struct{}
}

// startReplica runs inspect --replica on addr behind publicURL and waits
// until its output shows want.
func startReplica(t *testing.T, bin string, env []string, addr, publicURL, dsn, project, want string) *replica {
	t.Helper()
	r := &replica{t: t, out: &syncBuffer{}, exited: make(chan struct{})}
	r.cmd = exec.Command(bin, "inspect", "--replica", "--public-url", publicURL, "--listen", addr,
		"--resource", project, "--db", dsn)
	r.cmd.Dir = t.TempDir()
	r.cmd.Env = env
	r.cmd.Stdout, r.cmd.Stderr = r.out, r.out
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = r.cmd.Wait(); close(r.exited) }()
	t.Cleanup(func() {
		_ = r.cmd.Process.Signal(syscall.SIGKILL)
		<-r.exited
	})
	r.waitFor(want)
	return r
}

// waitFor waits until the replica's output contains s.
func (r *replica) waitFor(s string) {
	r.t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !strings.Contains(r.out.String(), s) {
		select {
		case <-r.exited:
			r.t.Fatalf("the replica exited before printing %q:\n%s", s, r.out)
		default:
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("the replica did not print %q within %s:\n%s", s, waitLimit, r.out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestReplicaFailover runs two `inspect --replica` processes on one
// PostgreSQL database behind one public URL, kills the one that manages the
// webhook with SIGKILL (no cleanup: PostgreSQL releases its locks with its
// connections), and checks that the other takes the same webhook over, and
// deletes it when it is stopped with SIGINT (Ctrl+C).
func TestReplicaFailover(t *testing.T) {
	bin := buildBinary(t)
	srv, err := emulator.Start(emulator.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	dsn := pgtest.Schema(t)
	dir := t.TempDir()
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "ASANA_PAT=" + srv.Token(),
		"ASANA_API_URL=" + srv.BaseURL(), "ASANA_WEBHOOKS_DATA_DIR=" + dir}
	leaderAddr, followerAddr := freePort(t), freePort(t)
	public := "http://" + leaderAddr // the load balancer, here in front of the first

	leader := startReplica(t, bin, env, leaderAddr, public, dsn, srv.ProjectGID(), "watching ")
	gids := srv.WebhookGIDs()
	if len(gids) != 1 {
		t.Fatalf("webhooks after the first replica started: %v, want one", gids)
	}
	follower := startReplica(t, bin, env, followerAddr, public, dsn, srv.ProjectGID(), "manages the webhooks; this one receives")
	if got := srv.WebhookGIDs(); !slices.Equal(got, gids) {
		t.Fatalf("webhooks after the second replica started: %v, want still %v", got, gids)
	}

	if err := leader.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-leader.exited
	follower.waitFor("this one takes over")
	follower.waitFor("watching ")
	if got := srv.WebhookGIDs(); !slices.Equal(got, gids) {
		t.Errorf("webhooks after the take-over: %v, want the same %v", got, gids)
	}
	if !strings.Contains(follower.out.String(), "reusing webhook of a replica that stopped "+gids[0]) {
		t.Errorf("the follower did not reuse webhook %s:\n%s", gids[0], follower.out)
	}

	if err := follower.cmd.Process.Signal(syscall.SIGINT); err != nil { // Ctrl+C
		t.Fatal(err)
	}
	<-follower.exited
	if code := follower.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("the last replica exited with %d after SIGINT, want 0:\n%s", code, follower.out)
	}
	if got := srv.WebhookGIDs(); len(got) != 0 {
		t.Errorf("webhooks after the last replica stopped: %v, want none:\n%s", got, follower.out)
	}
}
