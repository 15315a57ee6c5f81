// Preloaded (node --require ./guard.js) before the vendor's code: this process may reach loopback and
// nothing else. Any other address, or a name resolved that is not loopback's, is refused and recorded;
// the driver reports what was refused, and the Python test fails on it.
"use strict";
const dns = require("node:dns");
const net = require("node:net");

const LOOPBACK = new Set(["127.0.0.1", "::1", "localhost", "::ffff:127.0.0.1"]);
const refused = [];
globalThis.__refusedDestinations = refused;

function refuse(what) {
  refused.push(what);
  return new Error(`guard.js: ${what} refused (only loopback may be reached)`);
}

// Every TCP and TLS connection (http, https, fetch/undici, posthog-node) goes through net.Socket#connect.
const connect = net.Socket.prototype.connect;
net.Socket.prototype.connect = function guardedConnect(...args) {
  const first = args[0];
  const options = first !== null && typeof first === "object" ? (Array.isArray(first) ? first[0] : first) : null;
  const host = options ? (options.path ? "localhost" : options.host || "localhost") : typeof args[1] === "string" ? args[1] : "localhost";
  if (!LOOPBACK.has(String(host))) {
    const error = refuse(`connect to ${host}`);
    process.nextTick(() => this.destroy(error));
    return this;
  }
  return connect.apply(this, args);
};

for (const name of ["lookup", "resolve", "resolve4", "resolve6", "resolveAny"]) {
  const original = dns[name];
  dns[name] = function guardedResolve(hostname, ...rest) {
    if (!LOOPBACK.has(String(hostname))) {
      const callback = rest.find((arg) => typeof arg === "function");
      const error = refuse(`resolve ${hostname}`);
      if (callback) process.nextTick(() => callback(error));
      return undefined;
    }
    return original.call(this, hostname, ...rest);
  };
}
const lookup = dns.promises.lookup;
dns.promises.lookup = async function guardedLookup(hostname, ...rest) {
  if (!LOOPBACK.has(String(hostname))) throw refuse(`resolve ${hostname}`);
  return lookup.call(this, hostname, ...rest);
};
