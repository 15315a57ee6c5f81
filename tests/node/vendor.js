// The vendor's TypeScript SDK (npm honeyhive, pinned in package.json) against hhsession's emulator, all
// scenarios in one process: run by tests/test_vendor_node.py as
//
//   node --require ./guard.js vendor.js     (EMULATOR_URL, HH_NODE_MODULES set)
//
// Its last line on standard output is "RESULT <json>": the ids each call answered, what the SDK read
// back, every console.error / console.warn the SDK wrote, and every destination guard.js refused. Any
// call that throws is recorded as an error too (the SDK's calls throw on a non-2xx or an answer its
// models refuse); the Python side reads everything back through the emulator's export and checks it.
"use strict";
const path = require("node:path");
const { createRequire } = require("node:module");

// The SDK comes from the install the test made (a cache keyed by package-lock.json), never from
// whatever node_modules happens to sit beside this file.
const load = createRequire(path.join(process.env.HH_NODE_MODULES, "..", "package.json"));
const { HoneyHive, HoneyHiveTracer, enrichSpan, traceTool, traceChain } = load("honeyhive");

const url = process.env.EMULATOR_URL;
const apiKey = "emulator-key";
const project = "emulator-project";
const errors = [];
for (const level of ["error", "warn"]) {
  const original = console[level];
  console[level] = (...args) => {
    errors.push(`console.${level}: ${args.map((a) => (a instanceof Error ? a.stack : String(a))).join(" ")}`);
    original.apply(console, args);
  };
}

async function step(name, fn) {
  try {
    return await fn();
  } catch (error) {
    errors.push(`${name} threw: ${error && error.stack ? error.stack : String(error)}`);
    return undefined;
  }
}

const onlySession = (sessionId) => [{ field: "session_id", operator: "is", value: sessionId, type: "string" }];

async function sdkScenario() {
  const sdk = new HoneyHive({ bearerAuth: apiKey, serverURL: url });
  const out = {};
  const started = await step("session.startSession", () => sdk.session.startSession({
    session: {
      project, sessionName: "ts-sdk-run", source: "node-test", inputs: { question: "hi" },
      metadata: { run: 1 }, userProperties: { user: "u" }, config: { model: "m" },
    },
  }));
  out.sessionId = started && started.sessionId;
  const sessionId = out.sessionId;
  const created = await step("events.createEvent", () => sdk.events.createEvent({
    event: {
      project, source: "node-test", eventName: "retrieve", eventType: "tool", sessionId,
      config: { index: "docs" }, inputs: { query: "q" }, outputs: { hits: 3 }, duration: 120,
      metadata: { a: 1 }, startTime: 1764151200000,
    },
  }));
  out.eventId = created && created.eventId;
  out.createSuccess = created && created.success;
  const batch = await step("events.createEventBatch", () => sdk.events.createEventBatch({
    events: [
      { project, source: "node-test", eventName: "llm", eventType: "model", sessionId, config: {}, inputs: { p: 1 }, duration: 5 },
      { project, source: "node-test", eventName: "plan", eventType: "chain", sessionId, config: {}, inputs: {}, duration: 7 },
    ],
  }));
  out.batchEventIds = batch && batch.eventIds;
  await step("events.updateEvent (event)", () => sdk.events.updateEvent({
    eventId: out.eventId, metadata: { b: 2 }, outputs: { hits: 4 }, metrics: { recall: 0.5 }, feedback: { ok: true },
    duration: 150,
  }));
  await step("events.updateEvent (session)", () => sdk.events.updateEvent({
    eventId: sessionId, metadata: { done: true }, outputs: { answer: "42" },
  }));
  const session = await step("session.getSession", () => sdk.session.getSession(sessionId));
  out.getSession = session && { eventId: session.eventId, eventType: session.eventType, metadata: session.metadata };
  const found = await step("events.getEvents", () => sdk.events.getEvents({ project, filters: onlySession(sessionId) }));
  out.getEvents = found && {
    totalEvents: found.totalEvents,
    events: (found.events || []).map((e) => ({ eventId: e.eventId, eventType: e.eventType, eventName: e.eventName })),
  };
  return out;
}

async function tracerScenario() {
  const tracer = await HoneyHiveTracer.init({
    apiKey, project, serverUrl: url, sessionName: "ts-traced", source: "node-test", verbose: true,
  });
  const out = { sessionId: tracer.sessionId };
  const lookup = traceTool(function lookup(word) {
    enrichSpan({ metadata: { cached: false }, metrics: { length: word.length } });
    return word.toUpperCase();
  });
  const answer = traceChain(async function answer(question) {
    return { text: lookup(question) };
  });
  out.result = await step("tracer.trace", () => tracer.trace(() => answer("otlp")));
  await step("tracer.enrichSession", () => tracer.enrichSession({ metadata: { traced: true }, feedback: { rating: 4 } }));
  await step("tracer.flush", () => tracer.flush());
  return out;
}

(async () => {
  const result = { sdk: await sdkScenario(), tracer: await tracerScenario() };
  result.errors = errors;
  result.refused = globalThis.__refusedDestinations || null;
  process.stdout.write(`\nRESULT ${JSON.stringify(result)}\n`);
  // The tracer's exporter and timers would keep the process alive: it has said all it had to.
  process.exit(0);
})();
