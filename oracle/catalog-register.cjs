#!/usr/bin/env node
'use strict';
// Registers rendered services in the catalog with Backstage's own code, the way the
// template's `catalog:register` step does, without a database or a network:
//
//   the scaffolder's createCatalogRegisterAction (repoContentsUrl + catalogInfoPath)
//     -> addLocation, then addLocation with dryRun (the action's two calls)
//     -> the catalog's DefaultLocationService (dry run: process the Location and
//        every entity it yields, as POST /locations?dryRun=true does)
//     -> the catalog's DefaultCatalogProcessingOrchestrator with the processors,
//        entity policy, parser and rules a default catalog backend builds
//        (CatalogBuilder): PlaceholderProcessor ($text, $json, $yaml),
//        BuiltinKindsEntityProcessor (validation and relations), FileReader,
//        UrlReader, AnnotateLocation; SchemaValid, DefaultNamespace,
//        NoForeignRootFields and FieldFormat policies; DefaultCatalogRulesEnforcer
//        from the job's app-config.
//
// The one stand-in is the UrlReader: GitHub is out of reach, so URLs under a job's
// repoContentsUrl are read from the job's rendered folder, and search() behaves as
// the GitHub reader's does for a URL without a glob (a missing file is no match).
// URL resolution (relative $text paths, the same-repository check) is the real
// GitHub integration's.
//
// stdin:  {"jobs": [{"id", "root": "/abs/render", "repoContentsUrl":
//                    "https://github.com/<owner>/<repo>/blob/main",
//                    "catalogInfoPath": "/catalog-info.yaml", "config": {...app-config}}]}
// stdout: {"results": [{"id", "ok", "error"?, "outputs": {entityRef, catalogInfoUrl},
//                       "entities": [completed entities],
//                       "relations": [{"source", "type", "target"}] (entity refs, sorted)}]}
// Jobs run one after another; a failing job never aborts the batch.

// stdout carries only the result document: route library console output to stderr.
for (const name of ['log', 'info', 'debug', 'warn']) {
  console[name] = (...args) => console.error(...args);
}

const fs = require('node:fs');
const path = require('node:path');
const { ConfigReader } = require('@backstage/config');
const { ScmIntegrations } = require('@backstage/integration');
const { NotFoundError } = require('@backstage/errors');
const {
  EntityPolicies,
  SchemaValidEntityPolicy,
  DefaultNamespaceEntityPolicy,
  NoForeignRootFieldsEntityPolicy,
  FieldFormatEntityPolicy,
  makeValidator,
  stringifyEntityRef,
} = require('@backstage/catalog-model');
const {
  AnnotateLocationEntityProcessor,
  BuiltinKindsEntityProcessor,
  FileReaderProcessor,
  PlaceholderProcessor,
  UrlReaderProcessor,
} = require('@backstage/plugin-catalog-backend');
const { createCatalogRegisterAction } = require('@backstage/plugin-scaffolder-backend');

// The pieces CatalogBuilder wires together are internal modules of the catalog
// backend (its package exports only the processors): load them by file.
const catalogDist = path.dirname(require.resolve('@backstage/plugin-catalog-backend'));
const internal = (file) => require(path.join(catalogDist, file));
const { DefaultCatalogProcessingOrchestrator } = internal(
  'processing/DefaultCatalogProcessingOrchestrator.cjs.js',
);
const { DefaultLocationService } = internal('service/DefaultLocationService.cjs.js');
const { DefaultCatalogRulesEnforcer } = internal('ingestion/CatalogRules.cjs.js');
const { defaultEntityDataParser } = internal('util/parse.cjs.js');
const placeholders = internal('processors/PlaceholderProcessor.cjs.js');

const quietLogger = {
  error() {},
  warn() {},
  info() {},
  debug() {},
  child() {
    return quietLogger;
  },
};

// GitHub names a file by a blob or a tree URL alike (the GitHub integration resolves
// relative paths to tree URLs, and GitHub's reader reads files by either).
const asBlobUrl = (url) => url.replace(/^(https:\/\/[^/]+\/[^/]+\/[^/]+)\/tree\//, '$1/blob/');

// GitHub, served from a rendered folder: `${repoContentsUrl}/<path>` is `<root>/<path>`.
function localRepositoryReader(repoContentsUrl, root) {
  const prefix = `${asBlobUrl(repoContentsUrl).replace(/\/+$/, '')}/`;
  const read = (url) => {
    const blobUrl = asBlobUrl(url);
    if (!blobUrl.startsWith(prefix)) throw new NotFoundError(`${url} is outside ${prefix}`);
    const file = path.join(root, decodeURIComponent(blobUrl.slice(prefix.length)));
    if (!file.startsWith(`${root}${path.sep}`) || !fs.existsSync(file) || !fs.statSync(file).isFile()) {
      throw new NotFoundError(`${url} could not be read: no such file`);
    }
    return fs.readFileSync(file);
  };
  return {
    async readUrl(url) {
      const data = read(url);
      return { buffer: async () => data, stream: undefined, etag: undefined };
    },
    async readTree() {
      throw new Error('catalog-register oracle: readTree is not supported');
    },
    async search(url) {
      if (/[*?[\]{}]/.test(new URL(url).pathname)) {
        throw new Error('catalog-register oracle: glob URLs are not supported');
      }
      try {
        const data = read(url);
        return { files: [{ url, content: async () => data }], etag: '' };
      } catch (err) {
        if (err.name === 'NotFoundError') return { files: [], etag: '' };
        throw err;
      }
    },
  };
}

// Jobs run one at a time, so one catalog serves them all (its validators compile their
// schemas once): the reader reads the current job's folder, and the records collect what
// the current job's processing produced.
const current = { reader: null, records: [] };
const reader = {
  readUrl: (...args) => current.reader.readUrl(...args),
  readTree: (...args) => current.reader.readTree(...args),
  search: (...args) => current.reader.search(...args),
};
// CatalogBuilder.buildEntityPolicy, with no extra policies or field validators.
const policy = EntityPolicies.allOf([
  new SchemaValidEntityPolicy(),
  new DefaultNamespaceEntityPolicy(),
  new NoForeignRootFieldsEntityPolicy(),
  new FieldFormatEntityPolicy(makeValidator({})),
]);
const builtinKinds = new BuiltinKindsEntityProcessor();

// The catalog and the register action for one app-config, made once per distinct config.
const catalogs = new Map();
function catalogFor(appConfig) {
  const key = JSON.stringify(appConfig);
  if (catalogs.has(key)) return catalogs.get(key);
  const config = new ConfigReader(appConfig);
  const integrations = ScmIntegrations.fromConfig(config);
  // CatalogBuilder.buildProcessors, with no extra processors or resolvers.
  const processors = [
    new PlaceholderProcessor({
      resolvers: {
        json: placeholders.jsonPlaceholderResolver,
        yaml: placeholders.yamlPlaceholderResolver,
        text: placeholders.textPlaceholderResolver,
      },
      reader,
      integrations,
    }),
    builtinKinds,
    new FileReaderProcessor(),
    new UrlReaderProcessor({ reader, logger: quietLogger }),
    new AnnotateLocationEntityProcessor({ integrations }),
  ];
  const orchestrator = new DefaultCatalogProcessingOrchestrator({
    processors,
    integrations,
    rulesEnforcer: DefaultCatalogRulesEnforcer.fromConfig(config),
    logger: quietLogger,
    parser: defaultEntityDataParser,
    policy,
  });
  const recording = {
    async process(request) {
      const result = await orchestrator.process(request);
      current.records.push(result);
      return result;
    },
  };
  const store = {
    async listLocations() {
      return [];
    },
    async createLocation(spec) {
      return { id: 'registered', ...spec };
    },
  };
  const locationService = new DefaultLocationService(store, recording);
  // What the catalog's HTTP router does with POST /locations[?dryRun=true].
  const catalog = {
    async addLocation({ dryRun, ...spec }) {
      return locationService.createLocation(spec, Boolean(dryRun));
    },
  };
  const action = createCatalogRegisterAction({ catalog, integrations });
  catalogs.set(key, action);
  return action;
}

async function runJob(job) {
  current.reader = localRepositoryReader(job.repoContentsUrl, path.resolve(job.root));
  current.records = [];
  const records = current.records;
  const outputs = {};
  await catalogFor(job.config ?? {}).handler({
    input: { repoContentsUrl: job.repoContentsUrl, catalogInfoPath: job.catalogInfoPath },
    logger: quietLogger,
    output(name, value) {
      outputs[name] = value;
    },
    getInitiatorCredentials: async () => ({}),
    checkpoint: async ({ fn }) => fn(),
    task: { id: job.id },
  });
  const relations = new Map();
  for (const record of records) {
    for (const relation of record.relations ?? []) {
      const item = {
        source: stringifyEntityRef(relation.source),
        type: relation.type,
        target: stringifyEntityRef(relation.target),
      };
      relations.set(JSON.stringify(item), item);
    }
  }
  return {
    outputs,
    entities: records.filter((record) => record.ok).map((record) => record.completedEntity),
    relations: [...relations.keys()].sort().map((key) => relations.get(key)),
  };
}

async function readStdin() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}

async function main() {
  const { jobs } = JSON.parse(await readStdin());
  const results = [];
  for (const job of jobs) {
    try {
      results.push({ id: job.id, ok: true, ...(await runJob(job)) });
    } catch (err) {
      results.push({ id: job.id, ok: false, error: String(err?.message ?? err) });
    }
  }
  process.stdout.write(`${JSON.stringify({ results })}\n`, () => process.exit(0));
}

main().catch((err) => {
  process.stderr.write(`catalog-register: ${err?.stack ?? err}\n`);
  process.exit(1);
});
