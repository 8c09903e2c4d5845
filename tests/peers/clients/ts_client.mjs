#!/usr/bin/env node
// MCP client driver on the TypeScript SDK (@modelcontextprotocol/sdk 1.32.2) for smcp's
// end-to-end tests. Same contract as py_client.py: connect to one MCP server, run one scenario,
// print ONE JSON line on stdout ({"ok": true, "client": "typescript", ...}); on failure print
// {"ok": false, "error": ..., "http": [...]} as well, the error on stderr, and exit 1 (2 for bad
// usage). "http" traces every HTTP exchange (method, path, JSON-RPC method, MCP headers, status,
// WWW-Authenticate) through the transports' `fetch` option.
//
// The TS SDK 1.x always connects with `initialize` (it has no server/discover probe).
// Extra headers (e.g. `Authorization: Bearer T`) go through `requestInit.headers`, which the
// SDK applies to every POST, GET stream, DELETE and the legacy SSE GET.
//
// Usage:
//   node ts_client.mjs --url http://127.0.0.1:PORT/mcp --transport streamable --scenario basic
//   node ts_client.mjs --url http://127.0.0.1:PORT/sse --transport sse --header 'Authorization: Bearer T'
//   node ts_client.mjs --transport stdio --command node --arg server.js --arg stdio --scenario everything
//   node ts_client.mjs --url http://127.0.0.1:PORT/v1/x --oauth-client-id ID --oauth-client-secret S
//     (the SDK's ClientCredentialsProvider: on a 401 it follows WWW-Authenticate resource_metadata
//      -> protected-resource metadata -> authorization-server metadata -> token endpoint, with
//      client_secret_basic; the discovery requests appear in "http" too)
// Scenarios: connect, basic, everything, memory, time, step-up (see SCENARIOS below).

import { parseArgs } from "node:util";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { SSEClientTransport } from "@modelcontextprotocol/sdk/client/sse.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { ClientCredentialsProvider } from "@modelcontextprotocol/sdk/client/auth-extensions.js";
import {
  CreateMessageRequestSchema,
  ElicitRequestSchema,
  LoggingMessageNotificationSchema,
} from "@modelcontextprotocol/sdk/types.js";

const TRACED_REQUEST_HEADERS = ["mcp-protocol-version", "mcp-method", "mcp-name", "mcp-session-id", "last-event-id"];
const TRACED_RESPONSE_HEADERS = ["content-type", "mcp-session-id", "www-authenticate"];

function usage(message) {
  process.stderr.write(`ts_client: ${message}\n`);
  process.exit(2);
}

function parseCli(argv) {
  const { values } = parseArgs({
    args: argv,
    options: {
      url: { type: "string" },
      transport: { type: "string", default: "streamable" },
      header: { type: "string", multiple: true, default: [] },
      scenario: { type: "string", default: "basic" },
      message: { type: "string", default: "hello from ts_client" },
      entity: { type: "string", default: "smcp-e2e-entity" },
      "long-duration": { type: "string", default: "0.5" },
      "long-steps": { type: "string", default: "5" },
      timeout: { type: "string", default: "60" },
      command: { type: "string" },
      arg: { type: "string", multiple: true, default: [] },
      env: { type: "string", multiple: true, default: [] },
      "oauth-client-id": { type: "string" },
      "oauth-client-secret": { type: "string" },
      "oauth-scope": { type: "string" },
    },
    strict: true,
  });
  if (!["streamable", "sse", "stdio"].includes(values.transport)) usage(`bad --transport ${values.transport}`);
  if (!(values.scenario in SCENARIOS)) usage(`bad --scenario ${values.scenario}`);
  if (values.transport === "stdio" && !values.command) usage("--transport stdio needs --command");
  if (values.transport !== "stdio" && !values.url) usage("--url is required for streamable and sse");
  const headers = {};
  for (const item of values.header) {
    const i = item.indexOf(":");
    if (i <= 0) usage(`bad --header '${item}': expected 'Name: value'`);
    headers[item.slice(0, i).trim()] = item.slice(i + 1).trim();
  }
  return {
    ...values,
    headers,
    longDuration: Number(values["long-duration"]),
    longSteps: Number(values["long-steps"]),
    timeoutMs: Number(values.timeout) * 1000,
  };
}

/** A fetch that records each exchange; the SDK transports take it through their `fetch` option. */
function tracingFetch(trace) {
  return async (url, init = {}) => {
    const u = new URL(url instanceof Request ? url.url : String(url));
    const method = (init.method ?? (url instanceof Request ? url.method : "GET")).toUpperCase();
    const headers = new Headers(init.headers ?? {});
    const entry = { method, path: u.pathname + u.search };
    for (const name of TRACED_REQUEST_HEADERS) {
      if (headers.has(name)) entry[name] = headers.get(name);
    }
    if (method === "POST" && typeof init.body === "string") {
      try {
        const body = JSON.parse(init.body);
        if (body && typeof body === "object" && !Array.isArray(body)) {
          entry.rpc = body.method ?? ("result" in body || "error" in body ? "response" : null);
        }
      } catch {
        // not JSON: leave rpc out
      }
    }
    trace.push(entry);
    const response = await fetch(url, init);
    entry.status = response.status;
    for (const name of TRACED_RESPONSE_HEADERS) {
      if (response.headers.has(name)) entry[name] = response.headers.get(name);
    }
    return response;
  };
}

function textOf(result) {
  const text = (result.content ?? [])
    .filter((c) => c.type === "text")
    .map((c) => c.text)
    .join("\n");
  if (result.isError) throw new Error(`tool returned isError: ${text}`);
  return text;
}

function jsonOf(result) {
  if (result.structuredContent !== undefined) return result.structuredContent;
  const text = textOf(result);
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

async function callTool(client, opts, name, args, extra = {}) {
  return client.callTool({ name, arguments: args }, undefined, { timeout: opts.timeoutMs, ...extra });
}

async function scenarioBasic(client, opts) {
  const tools = await client.listTools(undefined, { timeout: opts.timeoutMs });
  const names = tools.tools.map((t) => t.name).sort();
  const echo = textOf(await callTool(client, opts, "echo", { message: opts.message }));
  return { tools: names, echo };
}

async function scenarioEverything(client, opts, rec) {
  const out = await scenarioBasic(client, opts);
  out.sum = textOf(await callTool(client, opts, "get-sum", { a: 2, b: 3 }));
  out.long_running = textOf(
    await callTool(
      client,
      opts,
      "trigger-long-running-operation",
      { duration: opts.longDuration, steps: opts.longSteps },
      { onprogress: (p) => rec.progress.push({ progress: p.progress, total: p.total ?? null }) },
    ),
  );
  out.progress = rec.progress;
  // server-everything registers these two only for clients that declared the capability.
  out.sampling = out.tools.includes("trigger-sampling-request")
    ? textOf(await callTool(client, opts, "trigger-sampling-request", { prompt: "hello sampling", maxTokens: 16 }))
    : null;
  out.elicitation = out.tools.includes("trigger-elicitation-request")
    ? textOf(await callTool(client, opts, "trigger-elicitation-request", {}))
    : null;
  out.sampling_requests = rec.samplingRequests;
  out.elicitation_requests = rec.elicitationRequests;
  return out;
}

async function scenarioMemory(client, opts) {
  const tools = await client.listTools(undefined, { timeout: opts.timeoutMs });
  const entity = { name: opts.entity, entityType: "test", observations: [opts.message] };
  const created = jsonOf(await callTool(client, opts, "create_entities", { entities: [entity] }));
  const graph = jsonOf(await callTool(client, opts, "read_graph", {}));
  return { tools: tools.tools.map((t) => t.name).sort(), created, graph };
}

async function scenarioTime(client, opts) {
  const tools = await client.listTools(undefined, { timeout: opts.timeoutMs });
  const time = jsonOf(await callTool(client, opts, "get_current_time", { timezone: "UTC" }));
  return { tools: tools.tools.map((t) => t.name).sort(), time };
}

// A policy where the long-running tool needs a scope the first token lacks: the SDK answers
// the 403 insufficient_scope itself (discovery again, a new token, one retry, no loop). Its
// ClientCredentialsProvider asks for its configured scope, not the challenged one (1.32.2:
// fetchToken uses clientMetadata.scope), so the retry is refused again; the error is reported.
async function scenarioStepUp(client, opts) {
  const echo = textOf(await callTool(client, opts, "echo", { message: opts.message }));
  const long = { duration: opts.longDuration, steps: opts.longSteps };
  try {
    const long_running = textOf(await callTool(client, opts, "trigger-long-running-operation", long));
    return { echo, long_running };
  } catch (err) {
    return { echo, step_up_error: String(err?.message ?? err) };
  }
}

const SCENARIOS = {
  connect: async () => ({}), // handshake only (auth tests)
  "step-up": scenarioStepUp, // echo, then a call that needs a step-up
  basic: scenarioBasic, // tools/list + echo
  everything: scenarioEverything, // server-everything: sum, progress, sampling, elicitation
  memory: scenarioMemory, // server-memory: create_entities + read_graph
  time: scenarioTime, // mcp-server-time: get_current_time(UTC)
};

function makeTransport(opts, trace) {
  const requestInit = { headers: opts.headers };
  const fetch = tracingFetch(trace);
  const authProvider = opts["oauth-client-id"]
    ? new ClientCredentialsProvider({
        clientId: opts["oauth-client-id"],
        clientSecret: opts["oauth-client-secret"],
        scope: opts["oauth-scope"],
      })
    : undefined;
  if (opts.transport === "streamable") {
    return new StreamableHTTPClientTransport(new URL(opts.url), { requestInit, fetch, authProvider });
  }
  if (opts.transport === "sse") {
    return new SSEClientTransport(new URL(opts.url), { requestInit, fetch, authProvider });
  }
  const env = { ...process.env };
  for (const kv of opts.env) {
    const i = kv.indexOf("=");
    if (i > 0) env[kv.slice(0, i)] = kv.slice(i + 1);
  }
  return new StdioClientTransport({ command: opts.command, args: opts.arg, env, stderr: "inherit" });
}

function sessionIdFrom(transport, trace) {
  if (transport.sessionId) return transport.sessionId;
  // Legacy SSE: the session lives in the endpoint URI the server announced.
  for (const entry of trace) {
    const match = /[?&]sessionId=([^&]+)/.exec(entry.path);
    if (match) return decodeURIComponent(match[1]);
  }
  return null;
}

function describe(err) {
  if (err instanceof AggregateError) return err.errors.map(describe).join("; ");
  let text = `${err?.name ?? "Error"}: ${err?.message ?? String(err)}`;
  if (err?.code !== undefined) text += ` (code ${err.code})`;
  if (err?.cause) text += ` (caused by ${describe(err.cause)})`;
  return text;
}

async function main() {
  const opts = parseCli(process.argv.slice(2));
  const trace = [];
  const out = { ok: false, client: "typescript", sdk: "@modelcontextprotocol/sdk 1.32.2", transport: opts.transport, scenario: opts.scenario };
  const rec = { progress: [], samplingRequests: 0, elicitationRequests: 0, logMessages: 0 };
  let transport;
  let client;
  const deadline = setTimeout(() => {
    finish(new Error(`timed out after ${opts.timeoutMs} ms`));
  }, opts.timeoutMs);

  let finished = false;
  async function finish(err) {
    if (finished) return;
    finished = true;
    clearTimeout(deadline);
    if (transport) out.session_id = sessionIdFrom(transport, trace);
    try {
      // Like the Python SDK (terminate_on_close), end a streamable session with a DELETE.
      if (transport instanceof StreamableHTTPClientTransport && transport.sessionId) {
        await transport.terminateSession();
      }
    } catch {
      // best effort: a server may answer 405; the result is already decided
    }
    try {
      await client?.close();
    } catch {
      // closing is best effort; the result is already decided
    }
    out.http = trace;
    let code = 0;
    if (err) {
      out.ok = false;
      out.error = describe(err);
      process.stderr.write(`ts_client: ${out.error}\n`);
      if (process.env.SMCP_CLIENT_TRACEBACK) process.stderr.write(`${err?.stack ?? ""}\n`);
      code = 1;
    } else {
      out.ok = true;
    }
    process.stdout.write(`${JSON.stringify(out)}\n`, () => process.exit(code));
  }

  try {
    transport = makeTransport(opts, trace);
    // The Client hands the negotiated version to transports that take it; record it on the way.
    const setVersion = transport.setProtocolVersion?.bind(transport);
    transport.setProtocolVersion = (version) => {
      out.protocol_version = version;
      setVersion?.(version);
    };
    client = new Client(
      { name: "smcp-e2e-ts-client", version: "1.0.0" },
      { capabilities: { sampling: {}, elicitation: {} } },
    );
    client.setRequestHandler(CreateMessageRequestSchema, async (request) => {
      rec.samplingRequests += 1;
      const last = request.params.messages.at(-1)?.content;
      const prompt = last && last.type === "text" ? last.text : "";
      return {
        role: "assistant",
        content: { type: "text", text: `smcp-sampled: ${prompt}` },
        model: "smcp-test-model",
        stopReason: "endTurn",
      };
    });
    client.setRequestHandler(ElicitRequestSchema, async () => {
      rec.elicitationRequests += 1;
      return { action: "accept", content: { name: "smcp tester", check: true } };
    });
    client.setNotificationHandler(LoggingMessageNotificationSchema, async () => {
      rec.logMessages += 1;
    });
    await client.connect(transport, { timeout: opts.timeoutMs });
    const info = client.getServerVersion();
    out.server_info = info ? { name: info.name, version: info.version } : null;
    Object.assign(out, await SCENARIOS[opts.scenario](client, opts, rec));
    out.log_messages = rec.logMessages;
    await finish(null);
  } catch (err) {
    await finish(err);
  }
}

main();
