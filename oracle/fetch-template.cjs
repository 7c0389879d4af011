#!/usr/bin/env node
'use strict';
// Batch renderer: runs Backstage's own `fetch:template` action
// (createFetchTemplateAction from @backstage/plugin-scaffolder-backend) on many
// jobs in one Node process, so tests can compare the Python renderer against it.
//
// stdin:  {"jobs": [{"id", "skeleton": "/abs/dir", "workspace": "/abs/out",
//                    "values": {...}, "input": {targetPath, copyWithoutTemplating,
//                    templateFileExtension, trimBlocks, lstripBlocks, replace,
//                    cookiecutterCompat, ...}}]}
// stdout: {"results": [{"id", "ok": true} |
//                       {"id", "ok": false, "error", "errorName", "lastLog"}]}
// Rendering errors do not name the file; "lastLog" is the action's last log
// line before the failure, e.g. "Writing file src/x.py to template output path ...".
//
// Jobs run one after another; a failing job never aborts the batch.

// The action writes each rendered file with the source file's mode, which the
// process umask then masks. Fix the umask so output modes do not depend on the
// caller's environment (022 is what a Backstage container normally runs with).
process.umask(0o022);

// stdout carries only the result document: route library console output to stderr.
for (const name of ['log', 'info', 'debug', 'warn']) {
  console[name] = (...args) => console.error(...args);
}

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { createRequire } = require('node:module');
const { ConfigReader } = require('@backstage/config');
const { ScmIntegrations } = require('@backstage/integration');
const { createFetchTemplateAction } = require('@backstage/plugin-scaffolder-backend');

// The workflow runner validates step input against the action's JSON schema
// with `jsonschema` before calling the handler; use the backend's own copy.
const jsonschema = createRequire(
  require.resolve('@backstage/plugin-scaffolder-backend'),
)('jsonschema');

// A quiet logger that remembers only the action's last message.
let lastLog = null;
const remember = (message) => {
  lastLog = String(message);
};
const quietLogger = {
  error: remember,
  warn: remember,
  info: remember,
  debug() {},
  child() {
    return quietLogger;
  },
};

// No UrlReader is needed: a relative `url` with a file:// baseUrl is copied
// straight from disk by fetchContents. Anything else is a caller mistake.
const noReader = {
  async readUrl() {
    throw new Error('oracle: remote template URLs are not supported');
  },
  async readTree() {
    throw new Error('oracle: remote template URLs are not supported');
  },
  async search() {
    throw new Error('oracle: remote template URLs are not supported');
  },
};

// Empty config still configures github.com (the default integration), as in Backstage.
const integrations = ScmIntegrations.fromConfig(new ConfigReader({}));
const action = createFetchTemplateAction({ reader: noReader, integrations });

async function readStdin() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}

async function runJob(job, tmpRoot) {
  const skeleton = path.resolve(job.skeleton);
  const workspace = path.resolve(job.workspace);
  // fetchContents strips the "file://" prefix and does not URL-decode it, so
  // build the URL by concatenation (pathToFileURL would %-encode spaces etc.).
  const baseUrl = `file://${path.join(path.dirname(skeleton), 'template.yaml')}`;
  const input = { ...(job.input ?? {}), url: `./${path.basename(skeleton)}` };
  if (job.values !== undefined) input.values = job.values;

  const check = jsonschema.validate(input, action.schema.input);
  if (!check.valid) {
    const err = new Error(
      `Invalid input passed to action fetch:template, ${check.errors.join(', ')}`,
    );
    err.name = 'InputError';
    throw err;
  }

  fs.mkdirSync(workspace, { recursive: true });
  const tmpDirs = [];
  try {
    await action.handler({
      input,
      workspacePath: workspace,
      templateInfo: { baseUrl, entityRef: 'template:default/oracle' },
      logger: quietLogger,
      secrets: {},
      task: { id: `oracle-${job.id}` },
      step: { id: 'fetch', name: 'fetch:template' },
      isDryRun: false,
      signal: new AbortController().signal,
      output() {},
      checkpoint: async ({ fn }) => fn(),
      getInitiatorCredentials: async () => ({}),
      // The real runner makes `${workspace}_step-<id>-XXXXXX`; keep these out of
      // the caller's directories instead and delete them after the step, as it does.
      createTemporaryDirectory: async () => {
        const dir = fs.mkdtempSync(path.join(tmpRoot, 'step-'));
        tmpDirs.push(dir);
        return dir;
      },
    });
  } finally {
    for (const dir of tmpDirs) fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function main() {
  let doc;
  try {
    doc = JSON.parse(await readStdin());
  } catch (err) {
    process.stderr.write(`fetch-template: stdin is not JSON: ${err.message}\n`);
    process.exit(2);
  }
  if (!doc || !Array.isArray(doc.jobs)) {
    process.stderr.write('fetch-template: expected {"jobs": [...]} on stdin\n');
    process.exit(2);
  }

  const tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'bs-oracle-'));
  const results = [];
  try {
    for (const job of doc.jobs) {
      lastLog = null;
      try {
        await runJob(job, tmpRoot);
        results.push({ id: job.id, ok: true });
      } catch (err) {
        results.push({
          id: job.id,
          ok: false,
          error: String(err?.message ?? err),
          errorName: String(err?.name ?? 'Error'),
          lastLog,
        });
      }
    }
  } finally {
    fs.rmSync(tmpRoot, { recursive: true, force: true });
  }
  // Exit explicitly once written: some Backstage modules keep handles alive.
  process.stdout.write(`${JSON.stringify({ results })}\n`, () => process.exit(0));
}

main().catch((err) => {
  process.stderr.write(`fetch-template: ${err?.stack ?? err}\n`);
  process.exit(1);
});
