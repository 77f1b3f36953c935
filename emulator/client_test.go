package emulator_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/asana-webhooks/asana-webhooks/asana"
	"github.com/asana-webhooks/asana-webhooks/emulator/emulatortest"
)

// TestWithGoClient drives the emulator with the project's own Asana client:
// the two must agree on every shape they share.
func TestWithGoClient(t *testing.T) {
	srv := emulatortest.New(t)
	rc := newReceiver(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := asana.NewClient(srv.Token(), asana.WithBaseURL(srv.BaseURL()))

	me, err := c.Me(ctx)
	if err != nil || me.Name != "Ada Lovelace" {
		t.Fatalf("me: %v %+v", err, me)
	}
	created, err := c.CreateWebhook(ctx, asana.CreateWebhookRequest{Resource: srv.ProjectGID(), Target: rc.URL,
		Filters: []asana.Filter{{ResourceType: "task", Action: "changed", Fields: []string{"name"}}}})
	if err != nil {
		t.Fatal(err)
	}
	if created.Secret.IsZero() || created.Webhook.Resource.GID != srv.ProjectGID() || len(created.Webhook.Filters) != 1 {
		t.Fatalf("created %+v", created.Webhook)
	}
	list, err := c.ListWebhooks(ctx, srv.WorkspaceGID(), "")
	if err != nil || len(list) != 1 || list[0].GID != created.Webhook.GID {
		t.Fatalf("list: %v %+v", err, list)
	}
	got, err := c.GetWebhook(ctx, created.Webhook.GID)
	if err != nil || got.Target != rc.URL {
		t.Fatalf("get: %v %+v", err, got)
	}
	upd, err := c.UpdateWebhook(ctx, created.Webhook.GID, []asana.Filter{{ResourceType: "story"}})
	if err != nil || len(upd.Filters) != 1 || upd.Filters[0].ResourceType != "story" {
		t.Fatalf("update: %v %+v", err, upd)
	}

	_, err = c.Events(ctx, srv.ProjectGID(), "")
	var se *asana.SyncError
	if !errors.As(err, &se) || se.HadToken || se.Sync == "" {
		t.Fatalf("first events call: %v", err)
	}
	task, err := srv.CreateTask("", srv.ProjectGID(), "From Go")
	if err != nil {
		t.Fatal(err)
	}
	page, err := c.Events(ctx, srv.ProjectGID(), se.Sync)
	if err != nil || len(page.Events) != 2 || page.Events[0].Resource.GID != task || page.Events[0].Resource.Name != "From Go" {
		t.Fatalf("events: %v %+v", err, page)
	}

	if err := c.DeleteWebhook(ctx, created.Webhook.GID); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetWebhook(ctx, created.Webhook.GID); !asana.IsStatus(err, 404) {
		t.Fatalf("get after delete: %v", err)
	}
}
