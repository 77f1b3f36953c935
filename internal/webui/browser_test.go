package webui_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/asana-webhooks/asana-webhooks/asana"
	"github.com/asana-webhooks/asana-webhooks/emulator"
	"github.com/asana-webhooks/asana-webhooks/emulator/emulatortest"
	"github.com/asana-webhooks/asana-webhooks/internal/app"
	"github.com/asana-webhooks/asana-webhooks/internal/gateway/gatewaytest"
)

// chromiumPath is Debian's Chromium, which scripts/test.sh installs.
const chromiumPath = "/usr/bin/chromium"

// Gids of the browser test's seed: the inspector watches the first project
// from the start; the test creates a webhook on the second through the UI.
const (
	seedWorkspace = "1100000000000001"
	seedLaunch    = "1100000000000010"
	seedWebsite   = "1100000000000020"
)

func browserSeed() *emulator.Seed {
	return &emulator.Seed{
		Users: []emulator.SeedUser{{Name: "Ada Lovelace", Email: "ada@acme.example"}},
		Workspaces: []emulator.SeedWorkspace{{
			GID: seedWorkspace, Name: "Acme Corp", IsOrganization: true, EmailDomains: []string{"acme.example"},
			Projects: []emulator.SeedProject{
				{GID: seedLaunch, Name: "Launch plan", Sections: []emulator.SeedSection{{Name: "To do"}}},
				{GID: seedWebsite, Name: "Website", Sections: []emulator.SeedSection{{Name: "Backlog"}}},
			},
		}},
	}
}

// testOut returns the folder for the test's artifacts: $ASANA_WEBHOOKS_TEST_OUT,
// else testout/ at the repository root (git-ignored), plus sub.
func testOut(t *testing.T, sub string) string {
	t.Helper()
	dir := os.Getenv("ASANA_WEBHOOKS_TEST_OUT")
	if dir == "" {
		wd, err := os.Getwd()
		if err != nil {
			t.Fatalf("getwd: %v", err)
		}
		root := wd
		for {
			if _, err := os.Stat(filepath.Join(root, "go.mod")); err == nil {
				break
			}
			parent := filepath.Dir(root)
			if parent == root {
				t.Fatalf("no go.mod above %s", wd)
			}
			root = parent
		}
		dir = filepath.Join(root, "testout")
	}
	dir = filepath.Join(dir, sub)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("create %s: %v", dir, err)
	}
	return dir
}

// TestBrowser drives Chromium through the whole UI against a real inspector
// (internal/app: SQLite, receiver, manager) and the emulator: the Webhooks
// page, a create through the form, the new webhook healthy, a task change
// arriving in the live feed without a reload, its detail, and a confirmed
// delete that removes the webhook from the emulator.
func TestBrowser(t *testing.T) {
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Fatalf("Chromium is required at %s (scripts/test.sh installs it): %v", chromiumPath, err)
	}
	out := testOut(t, "webui")

	emu := emulatortest.New(t, emulatortest.WithSeed(browserSeed()))
	client := asana.NewClient(emu.Token(), asana.WithBaseURL(emu.BaseURL()), asana.WithTimeouts(10*time.Second, 20*time.Second))
	// The user's app, for the gateway: an Asana receiver that echoes the
	// handshake and counts the deliveries whose signature verifies.
	userApp := gatewaytest.New(t)
	appCount := func() int { return len(userApp.Received()) }
	in, err := app.New(app.Config{
		Client: client, Resources: []string{seedLaunch}, Listen: "127.0.0.1:0",
		DBPath: filepath.Join(t.TempDir(), "inspector.db"), UI: true, ForwardTo: userApp.URL + "/asana",
	})
	if err != nil {
		t.Fatalf("app.New: %v", err)
	}
	t.Cleanup(func() {
		if err := in.Close(); err != nil {
			t.Errorf("close inspector: %v", err)
		}
	})
	if err := in.Start(context.Background()); err != nil {
		t.Fatalf("start inspector: %v", err)
	}
	ui := in.UIURL()
	if !strings.HasPrefix(ui, "http://127.0.0.1:") {
		t.Fatalf("UI URL %q", ui)
	}

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath),
		chromedp.NoSandbox,
		chromedp.Headless,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1366, 900),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	bctx, cancelBrowser := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	t.Cleanup(cancelBrowser)
	// Generous: two shared cores under -race.
	ctx, cancel := context.WithTimeout(bctx, 3*time.Minute)
	defer cancel()

	step := 0
	shot := func(name string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			buf, err := chromedp.FullScreenshot(100)(ctx, tg)
			if err != nil {
				return fmt.Errorf("screenshot %s: %w", name, err)
			}
			step++
			return os.WriteFile(filepath.Join(out, fmt.Sprintf("%02d-%s.png", step, name)), buf, 0o644)
		})
	}
	fail := func(what string, err error) {
		t.Helper()
		loc, _ := chromedp.Run(ctx, chromedp.Location())
		t.Fatalf("%s: %v (page %s)", what, err, loc)
	}
	do := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			fail(what, err)
		}
	}
	text := func(sel string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			fail("read "+sel, err)
		}
		return v
	}

	// 1. The Webhooks page shows the run's webhook, ours and healthy.
	do("open the Webhooks page",
		chromedp.Navigate(ui+"/webhooks"),
		chromedp.WaitVisible(chromedp.CSS(`li.card.ours[data-health="healthy"]`)),
		shot("webhooks"),
	)

	// Keyboard: the first Tab reaches the skip link, focused visibly.
	do("tab to the skip link", chromedp.KeyEvent("\t"))
	focus, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(function () {
		var el = document.activeElement, st = getComputedStyle(el);
		return el.className + "|" + st.outlineStyle + "|" + (el.getBoundingClientRect().left >= 0);
	})()`))
	if err != nil {
		fail("read the focus", err)
	}
	if focus != "skip|solid|true" {
		t.Errorf("after Tab: focus %q, want the visible, outlined skip link", focus)
	}

	// 2. Create a webhook on "Website" through the form.
	do("create a webhook through the form",
		chromedp.Navigate(ui+"/create"),
		chromedp.WaitVisible(chromedp.CSS(`#create-form`)),
		chromedp.SetValue(chromedp.CSS(`#project`), seedWebsite),
		chromedp.SendKeys(chromedp.CSS(`#rt0`), "task"),
		shot("create-form"),
		chromedp.Click(chromedp.CSS(`#create-submit`)),
		chromedp.WaitVisible(chromedp.CSS(`#job-done`)),
		shot("created"),
	)
	jobText := text(`#job-done`)
	webhookGID := text(`#job-done code`)
	href, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS(`#job-region a[href^="/events?hook="]`), "href"))
	if err != nil {
		fail("read the events link", err)
	}
	hookID := strings.TrimPrefix(href.Value, "/events?hook=")
	if webhookGID == "" || len(hookID) != 32 || !strings.Contains(jobText, "Website") {
		t.Fatalf("job page: %q, webhook %q, hook %q", jobText, webhookGID, hookID)
	}
	if !slices.Contains(emu.WebhookGIDs(), webhookGID) {
		t.Fatalf("webhook %s is not in the emulator (%v)", webhookGID, emu.WebhookGIDs())
	}

	// 3. It is listed, ours and healthy.
	card := fmt.Sprintf(`li.card.ours[data-webhook-gid=%q]`, webhookGID)
	do("see the new webhook healthy",
		chromedp.Click(chromedp.CSS(`#to-webhooks`)),
		chromedp.WaitVisible(chromedp.CSS(card+`[data-health="healthy"]`)),
		shot("healthy"),
	)

	// 4. A task change shows up in the live feed without a reload.
	do("open the Events page",
		chromedp.Navigate(ui+"/events"),
		chromedp.WaitVisible(chromedp.CSS(`#feed`)),
	)
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.__notReloaded = true`)); err != nil {
		fail("mark the page", err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.getElementById("live-status").textContent.startsWith("Live")`,
		chromedp.WithPollingTimeout(30*time.Second))); err != nil {
		fail("the feed did not connect (status "+text(`#live-status`)+")", err)
	}
	statN := func(id string) int {
		t.Helper()
		n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`parseInt(document.getElementById(`+strconv.Quote(id)+`).dataset.n, 10)`))
		if err != nil {
			fail("read "+id, err)
		}
		return n
	}
	deliveriesBefore, eventsBefore := statN("stat-deliveries"), statN("stat-events")
	task, err := emu.CreateTask(emu.Token(), seedWebsite, "Write the browser test")
	if err != nil {
		t.Fatalf("create task: %v", err)
	}
	name := "Write the browser test, renamed"
	if err := emu.UpdateTask(emu.Token(), task, emulator.TaskUpdate{Name: &name}); err != nil {
		t.Fatalf("update task: %v", err)
	}
	row := fmt.Sprintf(`#feed li.delivery[data-hook=%q][data-gids~=%q]`, hookID, task)
	liveCtx, cancelLive := context.WithTimeout(ctx, 10*time.Second)
	err = chromedp.Do(liveCtx, chromedp.WaitVisible(chromedp.CSS(row)))
	cancelLive()
	if err != nil {
		_ = chromedp.Do(ctx, shot("feed-missing-event"))
		t.Fatalf("the task change did not appear in the live feed within 10 s: %v", err)
	}
	notReloaded, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.__notReloaded === true`))
	if err != nil {
		fail("check the page", err)
	}
	if !notReloaded {
		t.Fatal("the Events page reloaded; the event should arrive live")
	}
	// The stats line counts what arrived since the page loaded: at least
	// the create's delivery, with its two new events (added to the project
	// and to its section).
	if d, e := statN("stat-deliveries"), statN("stat-events"); d < deliveriesBefore+1 || e < eventsBefore+2 {
		t.Errorf("stats line after the live events: %d deliveries, %d distinct events; before: %d, %d (%q)",
			d, e, deliveriesBefore, eventsBefore, text(`#stats`))
	}
	if when := text(`#stats-when`); when != "So far" {
		t.Errorf("stats line begins %q, want %q once live", when, "So far")
	}
	do("screenshot the live event", shot("live-event"))

	// 5. The delivery's detail.
	do("open the delivery's detail",
		chromedp.Click(chromedp.CSS(row+` a.dlink`)),
		chromedp.WaitVisible(chromedp.CSS(`#body`)),
		shot("detail"),
	)
	body, verdict, headers := text(`#body`), text(`#verdict`), text(`table.headers`)
	if !strings.Contains(body, task) || !strings.Contains(body, "\n  \"events\": [") {
		t.Errorf("detail body is not the pretty-printed delivery with task %s:\n%s", task, body)
	}
	if !strings.EqualFold(verdict, "verified") {
		t.Errorf("signature verdict %q", verdict)
	}
	if !strings.Contains(headers, "X-Hook-Signature") || !strings.Contains(headers, "[REDACTED]") {
		t.Errorf("headers without a redacted signature:\n%s", headers)
	}
	before := appCount()
	do("send the delivery to the app again",
		chromedp.Click(chromedp.CSS(`#replay`)),
		chromedp.WaitVisible(chromedp.CSS(`#replayed`)),
		shot("replayed"),
	)
	if msg := text(`#replayed`); !strings.Contains(msg, "your app answered 204 No Content") || appCount() != before+1 {
		t.Errorf("after the replay button: %q, the app got %d more deliveries; want its 204 and 1", msg, appCount()-before)
	}

	// 6. Delete it after the confirmation; it is gone from the emulator.
	do("delete the webhook",
		chromedp.Navigate(ui+"/webhooks"),
		chromedp.WaitVisible(chromedp.CSS(card)),
		chromedp.Click(chromedp.CSS(card+` a.danger`)),
		chromedp.WaitVisible(chromedp.CSS(`#confirm-delete`)),
		shot("confirm"),
		chromedp.Click(chromedp.CSS(`#confirm-delete`)),
		chromedp.WaitVisible(chromedp.CSS(`p.flash`)),
		chromedp.WaitNotPresent(chromedp.CSS(card)),
		shot("deleted"),
	)
	if slices.Contains(emu.WebhookGIDs(), webhookGID) {
		t.Errorf("webhook %s is still in the emulator after the delete", webhookGID)
	}
}
