// Drives an Asana API server (our emulator) with Asana's official Node SDK, v3.
// Inputs come from the environment; one JSON line per step goes to stdout, and
// any failure exits non-zero with the error on stderr. The Go test that runs
// this script checks both the steps and the emulator's own state.
'use strict';
const Asana = require('asana');

const env = (name) => {
  const v = process.env[name];
  if (!v) { throw new Error(`missing ${name}`); }
  return v;
};

async function main() {
  const client = Asana.ApiClient.instance;
  client.basePath = env('ASANA_BASE_URL');
  client.authentications.token.accessToken = env('ASANA_TOKEN');
  client.RETURN_COLLECTION = false; // plain promises, no auto-pagination objects
  const webhooks = new Asana.WebhooksApi();
  const events = new Asana.EventsApi();
  const tasks = new Asana.TasksApi();
  const project = env('ASANA_PROJECT');
  const workspace = env('ASANA_WORKSPACE');
  const target = env('ASANA_TARGET');
  const out = (step, value) => process.stdout.write(JSON.stringify({ step, value }) + '\n');

  const created = await webhooks.createWebhook({
    data: {
      resource: project,
      target,
      filters: [{ resource_type: 'task', action: 'changed', fields: ['name'] }],
    },
  }, {});
  // The secret stays out of the output: only whether the SDK handed it over.
  const secret = created['X-Hook-Secret'];
  out('create', { ...created, 'X-Hook-Secret': typeof secret === 'string' && secret !== '' ? '<redacted>' : secret });
  const gid = created.data.gid;

  const listed = await webhooks.getWebhooks(workspace, { resource: project, limit: 10 });
  out('list', listed);

  const got = await webhooks.getWebhook(gid, {});
  out('get', got);

  const updated = await webhooks.updateWebhook({
    data: { filters: [{ resource_type: 'task', action: 'added' }, { resource_type: 'story', action: 'added' }] },
  }, gid, {});
  out('update', updated);

  // The first /events call is a 412 that carries the first sync token.
  let sync;
  try {
    await events.getEvents(project, {});
    throw new Error('first /events call succeeded; expected 412');
  } catch (err) {
    if (!err.status || err.status !== 412) { throw err; }
    sync = err.response.body.sync;
    out('events-412', { status: err.status, sync });
  }
  await tasks.createTask({ data: { name: 'Made by the Node SDK', projects: [project] } }, {});
  const page = await events.getEvents(project, { sync });
  out('events', page);

  const deleted = await webhooks.deleteWebhook(gid);
  out('delete', deleted);
}

main().catch((err) => {
  const detail = err && err.response ? ` (${err.status}: ${JSON.stringify(err.response.body)})` : '';
  process.stderr.write(`${err && err.stack ? err.stack : err}${detail}\n`);
  process.exit(1);
});
