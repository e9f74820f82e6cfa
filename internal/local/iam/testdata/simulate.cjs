// simulate.cjs answers a batch of IAM authorization requests with
// @cloud-copilot/iam-simulate, an IAM simulator written independently of
// internal/local/iam, for TestDifferentialAgainstIAMSimulate. One process answers
// every request (loading the Service Authorization Reference once).
//
// stdin:  {"nodeModules": dir, "principals": {name: {"arn": callerArn, "account": id, "policies": [doc, ...]}},
//          "requests": [{"id", "principal", "action", "resource", "context": {key: [values]}}]}
// stdout: {"results": [{"id", "decision": "Allowed"|"ImplicitlyDenied"|"ExplicitlyDenied",
//          "wildcardOnly": bool, "ignoredContextKeys": [...], "error": "..."}]}
//
// How each request is put to the simulator (each choice mirrors how AWS sees the call):
//   - An action the Reference lists without resource types is asked with the
//     resource "*": AWS authorizes it against "*" whatever the call names.
//   - A call that names no resource ("*") for an action that has resource types is
//     decided as AWS decides it: only a statement whose Resource matches "*" applies.
//     runSimulation would instead answer "is it allowed on some resource", so such a
//     request goes to the simulator's core engine with its wildcard-only flag set.
//   - A KMS key is asked with the account-delegating statement of the default key
//     policy as its resource policy: the stack's key policy has it, and the offline
//     Authority evaluates identity policies only (KMS trusts them only through it).
//   - A context value with one element is passed as a string, several as a list.
'use strict';

const fs = require('fs');
const path = require('path');

async function main() {
  const input = JSON.parse(fs.readFileSync(0, 'utf8'));
  const simDir = path.join(input.nodeModules, '@cloud-copilot', 'iam-simulate');
  const sim = require(path.join(simDir, 'dist/cjs/index.js'));
  const { loadPolicy } = require(path.join(input.nodeModules, '@cloud-copilot', 'iam-policy', 'dist/cjs/index.js'));
  // Internals of the pinned version, for calls that name no resource (see above).
  const core = require(path.join(simDir, 'dist/cjs/core_engine/CoreSimulatorEngine.js'));
  const { AwsRequestImpl } = require(path.join(simDir, 'dist/cjs/request/request.js'));
  const { RequestContextImpl } = require(path.join(simDir, 'dist/cjs/requestContext.js'));
  const { DiscoveryContextKeyConstraints } = require(path.join(simDir, 'dist/cjs/context_keys/discoveryContextKeyConstraints.js'));

  const loaded = {};
  for (const [name, p] of Object.entries(input.principals)) {
    loaded[name] = p.policies.map((doc, i) => loadPolicy(doc, { name: `${name}-${i}` }));
  }

  const results = [];
  for (const r of input.requests) {
    const p = input.principals[r.principal];
    const out = { id: r.id };
    try {
      if (!p) throw new Error(`unknown principal ${r.principal}`);
      const [service, action] = r.action.split(':');
      out.wildcardOnly = await sim.isWildcardOnlyAction(service, action);
      const context = {};
      for (const [k, v] of Object.entries(r.context || {})) {
        context[k] = v.length === 1 ? v[0] : v;
      }
      const resource = out.wildcardOnly ? '*' : r.resource;
      if (resource === '*' && !out.wildcardOnly) {
        const analysis = core.authorize({
          request: new AwsRequestImpl(p.arn, { resource: '*', accountId: p.account }, r.action, new RequestContextImpl(context), true),
          sessionPolicy: undefined,
          identityPolicies: loaded[r.principal],
          serviceControlPolicies: [],
          resourceControlPolicies: [],
          resourcePolicy: undefined,
          permissionBoundaries: undefined,
          vpcEndpointPolicies: undefined,
          simulationParameters: { simulationMode: 'Strict', discoveryContextKeyConstraints: new DiscoveryContextKeyConstraints([]) }
        });
        out.decision = analysis.result;
        results.push(out);
        continue;
      }
      const simulation = {
        request: { principal: p.arn, action: r.action, resource: { resource, accountId: p.account }, contextVariables: context },
        identityPolicies: p.policies.map((policy, i) => ({ name: `${r.principal}-${i}`, policy })),
        serviceControlPolicies: [],
        resourceControlPolicies: []
      };
      if (/^arn:[^:]+:kms:[^:]*:[^:]*:key\//.test(resource)) {
        simulation.resourcePolicy = {
          Version: '2012-10-17',
          Statement: [{ Sid: 'EnableIAMPolicies', Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${p.account}:root` }, Action: 'kms:*', Resource: '*' }]
        };
      }
      const res = await sim.runSimulation(simulation, { simulationMode: 'Strict' });
      if (res.resultType === 'error') {
        out.error = JSON.stringify(res.errors);
      } else {
        out.decision = res.overallResult;
        const ignored = res.resultType === 'single' ? res.result.ignoredContextKeys : res.results.flatMap((x) => x.ignoredContextKeys || []);
        if (ignored && ignored.length) out.ignoredContextKeys = [...new Set(ignored)];
      }
    } catch (e) {
      out.error = String(e && e.stack ? e.stack : e);
    }
    results.push(out);
  }
  process.stdout.write(JSON.stringify({ results }));
}

main().catch((e) => {
  process.stderr.write(String(e && e.stack ? e.stack : e) + '\n');
  process.exit(1);
});
