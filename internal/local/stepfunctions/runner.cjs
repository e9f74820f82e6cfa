'use strict';
// One execution for the Go package stepfunctions: the real ASL interpreter (aws-local-stepfunctions)
// with every Task state routed to the Go bridge. Argument: the path of the JSON config Go wrote.
const fs = require('node:fs');
const path = require('node:path');
const crypto = require('node:crypto');
const http = require('node:http');
const Module = require('node:module');

// aws-local-stepfunctions 3 needs Node 22's Promise.withResolvers; Node 20 runs it with this.
if (typeof Promise.withResolvers !== 'function') {
  Promise.withResolvers = function withResolvers() {
    let resolve, reject;
    const promise = new this((res, rej) => { resolve = res; reject = rej; });
    return { promise, resolve, reject };
  };
}

// Every Task runs in Go, so the library must never reach the real Lambda API. Stubbing the SDK
// makes an accidental call fail loudly and saves ~0.2 s of start-up per execution.
const stubbed = new Set(['@aws-sdk/client-lambda', '@aws-sdk/credential-providers']);
const load = Module._load;
Module._load = function stubAWS(request, ...rest) {
  if (stubbed.has(request)) return {};
  return load.call(this, request, ...rest);
};

const cfg = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const {
  StateMachine, ExecutionError, ExecutionTimeoutError, ExecutionAbortedError,
} = require(path.join(cfg.nodeModules, 'aws-local-stepfunctions'));

// AWS's default task timeout is 99999999 s; setTimeout overflows above 2^31-1 ms (and then
// fires at once), so "no timeout" is the longest delay Node can wait.
const MAX_TIMEOUT_SECONDS = Math.floor((2 ** 31 - 1) / 1000);
const INPUT_KEY = '__snaplake_input';
const TIMEOUT_KEY = '__snaplake_timeout';
const LONG_POLL_GRACE_MS = 1000;

class TaskFailure extends Error {
  constructor(name, cause) {
    super(cause == null ? '' : String(cause));
    this.name = name == null ? '' : String(name);
  }
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// node:http rather than fetch: undici costs ~70 ms to load, and fetch gives up on a response
// whose headers take more than 300 s.
const agent = new http.Agent({ keepAlive: true });

function bridge(op, body) {
  return new Promise((resolve, reject) => {
    const req = http.request(cfg.bridge + op, {
      method: 'POST', agent, headers: { 'content-type': 'application/json' },
    }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        if (res.statusCode !== 200) {
          reject(new TaskFailure('States.Runtime', `bridge ${op}: HTTP ${res.statusCode}: ${text.trim()}`));
          return;
        }
        try { resolve(JSON.parse(text)); } catch (err) { reject(err); }
      });
    });
    req.on('error', (err) => reject(new TaskFailure('States.Runtime', `bridge ${op}: ${err.message}`)));
    req.end(JSON.stringify(body));
  });
}

function replaceDeep(value, from, to) {
  if (typeof value === 'string') return value.split(from).join(to);
  if (Array.isArray(value)) return value.map((v) => replaceDeep(v, from, to));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [replaceDeep(k, from, to), replaceDeep(v, from, to)]));
  }
  return value;
}

function newToken() {
  return 'AAAAKgAAAAIAAAAA' + crypto.randomBytes(48).toString('base64url');
}

function walk(machine, visit) {
  for (const [name, state] of Object.entries(machine.States || {})) {
    visit(name, state);
    if (state.Type === 'Map') walk(state.ItemProcessor || state.Iterator || {}, visit);
    if (state.Type === 'Parallel') (state.Branches || []).forEach((b) => walk(b, visit));
  }
}

// The library resolves TimeoutSecondsPath against the input after Parameters, AWS against the
// state input. Parameters is rewritten to carry both the real parameters and the timeout, and
// the handler unwraps them, so the definition keeps AWS's meaning.
function prepareTask(name, state) {
  const task = { name, resource: state.Resource, wrapped: false, timeout: state.TimeoutSeconds };
  if (state.TimeoutSeconds === undefined && state.TimeoutSecondsPath !== undefined) {
    const params = 'Parameters' in state ? { [INPUT_KEY]: state.Parameters } : { [INPUT_KEY + '.$']: '$' };
    params[TIMEOUT_KEY + '.$'] = state.TimeoutSecondsPath;
    state.Parameters = params;
    state.TimeoutSecondsPath = '$.' + TIMEOUT_KEY;
    task.wrapped = true;
  } else if (state.TimeoutSeconds === undefined) {
    state.TimeoutSeconds = MAX_TIMEOUT_SECONDS;
    task.timeout = MAX_TIMEOUT_SECONDS;
  }
  return task;
}

function handler(task) {
  const waits = /\.waitForTaskToken$/.test(task.resource);
  return async (raw) => {
    let input = raw;
    let timeout = task.timeout;
    if (task.wrapped) {
      input = raw[INPUT_KEY];
      timeout = raw[TIMEOUT_KEY];
    }
    let token = '';
    if (waits) {
      token = newToken();
      input = replaceDeep(input, cfg.tokenPlaceholder, token);
    }
    const { id } = await bridge('/invoke', { state: task.name, resource: task.resource, input, token, timeoutSeconds: timeout });
    for (;;) {
      const r = await bridge('/wait', { id });
      if (!r.done) continue;
      if (r.ok) return r.output === undefined ? null : r.output;
      if (r.timedOut) {
        // The library's own timer started first and fails the state with its States.Timeout
        // (which States.TaskFailed must not match); this is only the fallback.
        await sleep(LONG_POLL_GRACE_MS);
      }
      throw new TaskFailure(r.error, r.cause);
    }
  };
}

function causeText(cause) {
  if (cause === undefined || cause === null) return '';
  return typeof cause === 'string' ? cause : JSON.stringify(cause);
}

function finish(out) {
  process.stdout.write(JSON.stringify(out) + '\n', () => process.exit(0));
}

async function main() {
  const definition = cfg.definition;
  const handlers = {};
  const retryIntervalOverrides = {};
  walk(definition, (name, state) => {
    if (state.Type === 'Task') {
      if (handlers[name]) throw new TaskFailure('States.InvalidDefinition', `two Task states are named ${name}`);
      handlers[name] = handler(prepareTask(name, state));
    }
    if (cfg.retryIntervalMs > 0 && Array.isArray(state.Retry)) retryIntervalOverrides[name] = cfg.retryIntervalMs;
  });

  let machine;
  try {
    // Validation (asl-validator) costs ~0.3 s: Go asks for it once per definition and runner.
    machine = new StateMachine(definition, cfg.validate ? undefined : { validationOptions: { noValidate: true } });
  } catch (err) {
    finish({ status: 'INVALID', error: 'States.InvalidDefinition', cause: String(err.message || err), states: [] });
    return;
  }

  const execution = machine.run(cfg.input, {
    overrides: { taskResourceLocalHandlers: handlers, retryIntervalOverrides },
    context: cfg.context,
  });
  const states = [];
  const logged = (async () => {
    for await (const ev of execution.eventLogs) {
      if (ev.type === 'StateEntered') states.push(ev.state.name);
    }
  })();

  let out;
  try {
    out = { status: 'SUCCEEDED', output: await execution.result };
  } catch (err) {
    if (err instanceof ExecutionTimeoutError) {
      out = { status: 'TIMED_OUT', error: 'States.Timeout', cause: 'The execution timed out' };
    } else if (err instanceof ExecutionAbortedError) {
      out = { status: 'ABORTED' };
    } else if (err instanceof ExecutionError && err.cause) {
      out = { status: 'FAILED', error: String(err.cause.name), cause: causeText(err.cause.message) };
    } else {
      out = { status: 'FAILED', error: 'States.Runtime', cause: String((err && err.stack) || err) };
    }
  }
  // Nested Map/Parallel events reach the root log asynchronously: let them drain.
  await Promise.race([logged, sleep(200)]);
  out.states = states;
  finish(out);
}

main().catch((err) => {
  process.stderr.write(`runner: ${(err && err.stack) || err}\n`);
  const name = err && err.name ? String(err.name) : 'States.Runtime';
  const status = name === 'States.InvalidDefinition' ? 'INVALID' : 'FAILED';
  finish({ status, error: name, cause: String((err && err.message) || err), states: [] });
});
