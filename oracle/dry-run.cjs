#!/usr/bin/env node
'use strict';
// Runs a whole template.yaml through Backstage's own dry-run machinery: the
// `createDryRunner` of @backstage/plugin-scaffolder-backend (what the
// POST /v2/dry-run endpoint and the template editor use), with no server.
//
// stdin:  {"template": "/abs/template.yaml", "values": {...}, "workspace": "/abs/out",
//          optional "secrets": {...}, "user": {"ref", "entity"},
//          "globPatterns": [...] (which files next to template.yaml to upload)}
// stdout: {"ok": true, "files": [{path, executable, symlink, size}], "output": {...},
//          "steps": [{id, name, action, status, skipped, skipReason?, input?, output?}],
//          "log": [...]}
//      or {"ok": false, "error": "...", "errors"?: [...], "steps"?: [...], "log"?: [...]}
//
// What the POST /v2/dry-run route does before calling the dry runner is not
// exported (it lives inside createRouter), so its few lines are mirrored below:
// template validation, parameter validation, default step ids/names, and a
// templateInfo.baseUrl in a scratch "contents" directory.

// Deterministic output modes (the dry run writes files, masked by the umask).
process.umask(0o022);
// The step logger's level comes from LOG_LEVEL; pin it so the step-input log
// lines ("Running X in dry-run mode with inputs ...") are always emitted.
process.env.LOG_LEVEL = 'info';

// stdout carries only the result document: route library console output to stderr.
for (const name of ['log', 'info', 'debug', 'warn']) {
  console[name] = (...args) => console.error(...args);
}

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const crypto = require('node:crypto');
const { createRequire } = require('node:module');
const { pathToFileURL } = require('node:url');
const yaml = require('yaml');
const { ConfigReader } = require('@backstage/config');
const { ScmIntegrations } = require('@backstage/integration');
const { templateEntityV1beta3Validator } = require('@backstage/plugin-scaffolder-common');
const { serializeDirectoryContents } = require('@backstage/plugin-scaffolder-node');
const backend = require('@backstage/plugin-scaffolder-backend');
const { createPublishGithubAction } = require('@backstage/plugin-scaffolder-backend-module-github');

// Internals of the scaffolder backend that its package "exports" map hides;
// an absolute path bypasses that (versions are pinned in package-lock.json).
const BACKEND_DIST = path.join(
  path.dirname(require.resolve('@backstage/plugin-scaffolder-backend/package.json')),
  'dist',
);
const { createDryRunner } = require(path.join(BACKEND_DIST, 'scaffolder/dryrun/createDryRunner.cjs.js'));
const { DefaultTemplateActionRegistry } = require(
  path.join(BACKEND_DIST, 'scaffolder/actions/TemplateActionRegistry.cjs.js'),
);
const { generateExampleOutput } = require(path.join(BACKEND_DIST, 'scaffolder/tasks/helper.cjs.js'));
// The route validates values with the backend's own `jsonschema` copy.
const jsonschema = createRequire(path.join(BACKEND_DIST, 'index.cjs.js'))('jsonschema');

// Files next to template.yaml that are uploaded as the dry run's directory
// contents (the template editor uploads the whole folder). Backstage's default
// is ["./**", "!.git"]; also leave out dependency and cache folders. (A bare
// "!dir" pattern only hides the directory entry, hence the "/**" forms.)
const DEFAULT_GLOB_PATTERNS = [
  './**',
  '!.git',
  '!.git/**',
  '!**/node_modules/**',
  '!**/.venv/**',
  '!**/__pycache__/**',
  '!**/.*_cache/**',
  '!**/.hypothesis/**',
];

const silentLogger = {
  error() {},
  warn() {},
  info() {},
  debug() {},
  child() {
    return silentLogger;
  },
};

function unavailable(what) {
  return async () => {
    throw new Error(`oracle: ${what} is not available in a server-less dry run`);
  };
}

// Counters/histograms for the runner's OpenTelemetry-style MetricsService.
const noopMetrics = {
  createCounter: () => ({ add() {} }),
  createUpDownCounter: () => ({ add() {} }),
  createHistogram: () => ({ record() {} }),
  createGauge: () => ({ record() {} }),
};

function buildActionRegistry() {
  const config = new ConfigReader({});
  const integrations = ScmIntegrations.fromConfig(config);
  const reader = {
    readUrl: unavailable('UrlReader'),
    readTree: unavailable('UrlReader'),
    search: unavailable('UrlReader'),
  };
  // Nothing registered through the (server-side) actions service.
  const actionsService = { list: async () => ({ actions: [] }), invoke: unavailable('actions service') };
  const registry = new DefaultTemplateActionRegistry(actionsService, silentLogger);
  // catalog:register and catalog:fetch only touch the catalog when they run; the
  // former does not support dry run so it is skipped, the latter would fail loudly.
  const catalog = new Proxy({}, { get: (_t, prop) => unavailable(`catalog.${String(prop)}`) });
  const actions = [
    // The built-in actions a default scaffolder backend registers (ScaffolderPlugin).
    backend.createFetchPlainAction({ reader, integrations }),
    backend.createFetchPlainFileAction({ reader, integrations }),
    backend.createFetchTemplateAction({ reader, integrations }),
    backend.createFetchTemplateFileAction({ reader, integrations }),
    backend.createDebugLogAction(),
    backend.createWaitAction(),
    backend.createCatalogRegisterAction({ catalog, integrations }),
    backend.createFetchCatalogEntityAction({ catalog }),
    backend.createCatalogWriteAction(),
    backend.createFilesystemDeleteAction(),
    backend.createFilesystemRenameAction(),
    backend.createFilesystemReadDirAction(),
    // The real publish:github (github module, same release). Constructing it
    // needs only integrations + config: the GitHub client is made in its handler,
    // which a dry run never calls since the action does not support dry run.
    createPublishGithubAction({ integrations, config }),
  ];
  for (const action of actions) registry.register(action);
  return { registry, integrations, config };
}

async function readStdin() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}

function loadTemplate(file) {
  const docs = yaml.parseAllDocuments(fs.readFileSync(file, 'utf8'));
  for (const doc of docs) {
    if (doc.errors.length) throw new Error(`${file}: ${doc.errors[0].message}`);
  }
  const templates = docs.map((d) => d.toJSON()).filter((d) => d && d.kind === 'Template');
  if (templates.length !== 1) {
    throw new Error(`${file}: expected exactly one kind: Template document, found ${templates.length}`);
  }
  return templates[0];
}

// "\u001b[32minfo\u001b[39m: Running fetch:template in dry-run mode with inputs
// (secrets redacted): {json}" -> the rendered inputs (winston colorize+simple format).
const ANSI = /\u001b\[[0-9;]*m/g;
const INPUT_MARKER = ' in dry-run mode with inputs (secrets redacted): ';

function summarizeSteps(steps, log, registryActions) {
  return steps.map((step) => {
    const entries = log.filter((e) => e.body.stepId === step.id);
    const summary = { id: step.id, name: step.name, action: step.action, status: 'not-run', skipped: false };
    if (step.if !== undefined) summary.if = step.if;
    for (const { body } of entries) {
      if (body.status) summary.status = body.status;
      const msg = String(body.message ?? '').replace(ANSI, '');
      const at = msg.indexOf(INPUT_MARKER);
      if (at >= 0) {
        try {
          summary.input = JSON.parse(msg.slice(at + INPUT_MARKER.length));
        } catch {
          // not a pure JSON tail: leave it to the raw log
        }
      }
      if (body.status === 'skipped') {
        summary.skipped = true;
        if (msg.includes('does not support dry-run')) {
          summary.skipReason = 'dry-run-unsupported';
          // What the runner put in context.steps[id].output for later steps.
          const outSchema = registryActions.get(step.action)?.schema?.output;
          summary.output = outSchema ? generateExampleOutput(outSchema) : {};
        } else if (msg.includes('if condition was false')) {
          summary.skipReason = 'if-false';
        } else if (msg.includes('previous step failed')) {
          summary.skipReason = 'previous-step-failed';
        }
      }
    }
    return summary;
  });
}

function writeContents(workspace, directoryContents) {
  fs.mkdirSync(workspace, { recursive: true });
  const files = [];
  for (const file of directoryContents) {
    const target = path.resolve(workspace, file.path);
    if (!target.startsWith(workspace + path.sep)) throw new Error(`unsafe path ${file.path}`);
    fs.mkdirSync(path.dirname(target), { recursive: true });
    fs.rmSync(target, { force: true });
    if (file.symlink) {
      // serializeDirectoryContents stores a (dangling) symlink as its target.
      fs.symlinkSync(file.content.toString('utf8'), target);
    } else {
      fs.writeFileSync(target, file.content, { mode: file.executable ? 0o755 : 0o644 });
      fs.chmodSync(target, file.executable ? 0o755 : 0o644);
    }
    files.push({
      path: file.path,
      executable: Boolean(file.executable),
      symlink: Boolean(file.symlink),
      size: file.content.length,
    });
  }
  files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return files;
}

async function dryRunTemplate(request) {
  const templateFile = path.resolve(request.template);
  const workspace = path.resolve(request.workspace);
  const values = request.values ?? {};
  const template = loadTemplate(templateFile);

  // -- as in POST /v2/dry-run --
  if (!(await templateEntityV1beta3Validator.check(template))) {
    return { ok: false, error: 'Input template is not a template' };
  }
  for (const parameters of [template.spec.parameters ?? []].flat()) {
    const result = jsonschema.validate(values, parameters);
    if (!result.valid) {
      return {
        ok: false,
        error: `values do not match the template parameters: ${result.errors.join(', ')}`,
        errors: result.errors.map(String),
      };
    }
  }
  const steps = template.spec.steps.map((step, index) => ({
    ...step,
    id: step.id ?? `step-${index + 1}`,
    name: step.name ?? step.action,
  }));

  const { registry, integrations, config } = buildActionRegistry();
  const workingDirectory = fs.mkdtempSync(path.join(os.tmpdir(), 'bs-oracle-dry-run-'));
  try {
    // The dry runner unpacks directoryContents into dirname(baseUrl) and deletes
    // that directory afterwards, so it must be a scratch copy, never the real folder.
    const contentsPath = path.join(workingDirectory, `dry-run-content-${crypto.randomUUID()}`);
    const templateInfo = {
      entityRef: 'template:default/dry-run',
      entity: { metadata: template.metadata },
      baseUrl: pathToFileURL(path.join(contentsPath, 'template.yaml')).toString(),
    };
    const directoryContents = await serializeDirectoryContents(path.dirname(templateFile), {
      globPatterns: request.globPatterns ?? DEFAULT_GLOB_PATTERNS,
    });

    // The root logger receives every step-logger line (the same text the dry run
    // returns as its log); keep them so a failed run can still show them.
    const rootLines = [];
    const capture = (level) => (message) => rootLines.push({ level, message: String(message).replace(ANSI, '') });
    const rootLogger = {
      error: capture('error'),
      warn: capture('warn'),
      info: capture('info'),
      debug: capture('debug'),
      child: () => rootLogger,
    };
    const dryRunner = createDryRunner({
      actionRegistry: registry,
      integrations,
      logger: rootLogger,
      workingDirectory,
      config,
      metrics: noopMetrics,
      // no `permissions`: every action is allowed, as with permissions disabled
    });

    let result;
    try {
      result = await dryRunner({
        spec: {
          apiVersion: template.apiVersion,
          steps,
          output: template.spec.output ?? {},
          parameters: values,
          user: { entity: request.user?.entity, ref: request.user?.ref },
        },
        templateInfo,
        directoryContents,
        secrets: request.secrets ?? {},
        credentials: {
          $$type: '@backstage/BackstageCredentials',
          principal: { type: 'user', userEntityRef: request.user?.ref ?? 'user:default/guest' },
        },
      });
    } catch (err) {
      return {
        ok: false,
        error: String(err?.message ?? err),
        errorName: String(err?.name ?? 'Error'),
        log: rootLines,
      };
    }
    const log = result.log;
    const registryActions = await registry.list({ credentials: {} });
    return {
      ok: true,
      files: writeContents(workspace, result.directoryContents),
      output: result.output ?? {},
      steps: summarizeSteps(steps, log, registryActions),
      log: log.map((e) => ({ ...e.body, message: String(e.body.message ?? '').replace(ANSI, '') })),
    };
  } finally {
    fs.rmSync(workingDirectory, { recursive: true, force: true });
  }
}

async function main() {
  let request;
  try {
    request = JSON.parse(await readStdin());
  } catch (err) {
    process.stderr.write(`dry-run: stdin is not JSON: ${err.message}\n`);
    process.exit(2);
  }
  if (!request || typeof request.template !== 'string' || typeof request.workspace !== 'string') {
    process.stderr.write('dry-run: expected {"template", "values", "workspace"} on stdin\n');
    process.exit(2);
  }
  let doc;
  try {
    doc = await dryRunTemplate(request);
  } catch (err) {
    doc = { ok: false, error: String(err?.message ?? err), errorName: String(err?.name ?? 'Error') };
  }
  // Exit explicitly once written: some Backstage modules keep handles alive.
  process.stdout.write(`${JSON.stringify(doc)}\n`, () => process.exit(0));
}

main().catch((err) => {
  process.stderr.write(`dry-run: ${err?.stack ?? err}\n`);
  process.exit(1);
});
