#!/usr/bin/env node
// What `terraform validate` would catch in the AWS roots, offline (the
// providers cannot be installed here, so validate cannot run on them):
//   schema  every aws_*/random_*/kubernetes_* resource, data source and
//           ephemeral resource exists in the pinned provider schema; each
//           argument and nested block name exists; required arguments and
//           blocks are set; each attribute read from a resource
//           (aws_x.y.attr) exists; provider blocks (provider "kubernetes"
//           { exec { ... } }) use only the provider's own arguments.
//   pins    every provider a directory uses is in its required_providers
//           with the hashicorp source, and every version constraint there
//           admits the schema version checked here (so a pin cannot drift
//           away from what was checked).
//   wiring  every local module call passes only declared variables and all
//           required ones; module.X.Y names an output of X; an object-typed
//           variable fed a whole module (naming = module.naming) gets every
//           attribute it declares; var.*, local.*, data.*, ephemeral.* and
//           resource references resolve in their directory; terraform.tfvars
//           sets only declared variables and every required one; every
//           variable has a type and a description; a moved block's "to"
//           starts at a declared module or resource ("from" names what no
//           longer exists, so it is not resolved).
// The schemas are the CDKTF bindings generated from hashicorp/aws 6.25.0,
// hashicorp/random 3.7.2 and hashicorp/kubernetes 2.38.0 (their .d.ts files
// carry every argument's Terraform name and whether it is optional).
// Usage: lint-terraform.js DIR   (DIR: the terraform/ tree). Exit 1 on findings.
"use strict";

const fs = require("fs");
const path = require("path");
const { parse } = require("@cdktf/hcl2json");

const META_ARGS = new Set(["count", "for_each", "depends_on", "lifecycle", "provider", "provisioner", "connection"]);
const MODULE_META = new Set(["source", "version", "count", "for_each", "providers", "depends_on"]);
const SKIP_DIRS = new Set([".terraform", "node_modules", ".git", "tests"]);

// ---------------------------------------------------------------- schemas --

function packageDir(name) {
  const roots = [
    ...(process.env.NODE_PATH || "").split(path.delimiter).filter(Boolean),
    path.join(__dirname, "node_modules"),
  ];
  for (const root of roots) {
    const dir = path.join(root, name);
    if (fs.existsSync(path.join(dir, "package.json"))) return dir;
  }
  throw new Error(`package ${name} not found (NODE_PATH=${process.env.NODE_PATH || ""})`);
}

const PROVIDERS = {
  aws: { pkg: "@cdktf/provider-aws" },
  random: { pkg: "@cdktf/provider-random" },
  kubernetes: { pkg: "@cdktf/provider-kubernetes" },
};
const PROVIDER_META = new Set(["alias", "version"]);

function providerOf(type) {
  const prefix = type.split("_")[0];
  return PROVIDERS[prefix] ? prefix : null;
}

// Index of tfResourceType -> lib directory, built from the generated JS.
function typeIndex(provider) {
  const p = PROVIDERS[provider];
  if (p.index) return p.index;
  p.dir = packageDir(p.pkg);
  p.version = JSON.parse(fs.readFileSync(path.join(p.dir, "package.json"), "utf8")).cdktf.provider.version;
  const lib = path.join(p.dir, "lib");
  const index = { resource: new Map(), data: new Map() };
  for (const entry of fs.readdirSync(lib)) {
    const js = path.join(lib, entry, "index.js");
    if (!fs.existsSync(js)) continue;
    const m = /\.tfResourceType = "([a-z0-9_]+)";/.exec(fs.readFileSync(js, "utf8"));
    if (!m) continue;
    const kind = entry.startsWith("data-") ? "data" : "resource";
    index[kind].set(m[1], path.join(lib, entry, "index.d.ts"));
  }
  p.index = index;
  p.providerFile = path.join(lib, "provider", "index.d.ts");
  return index;
}

const schemaCache = new Map();

// Parses one generated .d.ts: interfaces (argument name -> optional, nested
// interface) and the main class's getters (readable attributes).
function loadSchema(provider, kind, type) {
  const key = `${kind}:${type}`;
  if (schemaCache.has(key)) return schemaCache.get(key);
  const file = kind === "provider" ? (typeIndex(provider), PROVIDERS[provider].providerFile) : typeIndex(provider)[kind].get(type);
  if (!file) {
    schemaCache.set(key, null);
    return null;
  }
  const lines = fs.readFileSync(file, "utf8").split("\n");
  const interfaces = new Map();
  let current = null;
  let configName = null;
  let className = null;
  let inClass = false;
  let pendingName = null;
  const getters = new Set();
  for (const line of lines) {
    let m;
    if ((m = /^export interface (\w+)(?: extends ([\w.]+))? \{/.exec(line))) {
      current = new Map();
      interfaces.set(m[1], current);
      if (m[2] === "cdktf.TerraformMetaArguments") configName = m[1];
      // A provider's configuration is the one interface named *ProviderConfig.
      if (kind === "provider" && !configName && /ProviderConfig$/.test(m[1])) configName = m[1];
      inClass = false;
      continue;
    }
    if ((m = /^export declare class (\w+) extends cdktf\.Terraform(Resource|DataSource) /.exec(line))) {
      className = m[1];
      inClass = true;
      current = null;
      continue;
    }
    if (/^export declare class /.test(line)) {
      inClass = false;
      current = null;
      continue;
    }
    if (inClass && (m = /^    get (\w+)\(\)/.exec(line))) {
      getters.add(m[1]);
      continue;
    }
    if (current && (m = /\{@link \S+#([a-z0-9_]+) /.exec(line))) {
      pendingName = m[1];
      continue;
    }
    if (current && (m = /^    readonly (\w+)(\?)?: (.+)$/.exec(line)) && pendingName) {
      const typeNames = (m[3].match(/\b[A-Z]\w+/g) || []).filter((n) => n !== "IResolvable");
      current.set(pendingName, { optional: m[2] === "?", typeNames });
      pendingName = null;
    }
  }
  if (!configName) throw new Error(`${file}: no config interface found`);
  const schema = { interfaces, root: configName, getters, className, file };
  schemaCache.set(key, schema);
  return schema;
}

function nestedOf(schema, prop) {
  return prop.typeNames.find((n) => schema.interfaces.has(n)) || null;
}

function camel(snake) {
  return snake.replace(/_([a-z0-9])/g, (_, c) => c.toUpperCase());
}

// Checks one block body against an interface; returns findings.
function checkBody(schema, ifaceName, body, where, out, meta = META_ARGS) {
  const iface = schema.interfaces.get(ifaceName);
  const dynamicNames = new Set();
  for (const [key, value] of Object.entries(body)) {
    if (ifaceName === schema.root && meta.has(key)) continue;
    if (key === "dynamic") {
      for (const [label, instances] of Object.entries(value)) {
        dynamicNames.add(label);
        const prop = iface.get(label);
        const nested = prop && nestedOf(schema, prop);
        if (!nested) {
          out.push(`${where}: dynamic "${label}" is not a nested block of this type`);
          continue;
        }
        for (const inst of instances) {
          for (const content of inst.content || []) checkBody(schema, nested, content, `${where}.${label}`, out);
        }
      }
      continue;
    }
    const prop = iface.get(key);
    if (!prop) {
      out.push(`${where}: unsupported argument or block "${key}"`);
      continue;
    }
    const nested = nestedOf(schema, prop);
    if (nested && Array.isArray(value)) {
      for (const item of value) {
        if (item && typeof item === "object" && !Array.isArray(item)) checkBody(schema, nested, item, `${where}.${key}`, out);
      }
    }
  }
  for (const [name, prop] of iface) {
    if (!prop.optional && !(name in body) && !dynamicNames.has(name)) {
      out.push(`${where}: required argument or block "${name}" is missing`);
    }
  }
}

// Terraform version constraints ("~> 6.25", ">= 2.38, < 3.0", "= 3.7.2").
function parseVersion(v) {
  const parts = v.trim().split(".").map((n) => Number.parseInt(n, 10));
  if (parts.some(Number.isNaN)) throw new Error(`bad version "${v}"`);
  return parts;
}

function compareVersions(a, b) {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const d = (a[i] || 0) - (b[i] || 0);
    if (d !== 0) return d;
  }
  return 0;
}

function admits(constraints, version) {
  const v = parseVersion(version);
  return constraints.split(",").every((c) => {
    const m = /^\s*(~>|>=|<=|!=|>|<|=)?\s*([0-9.]+)\s*$/.exec(c);
    if (!m) throw new Error(`bad version constraint "${c}"`);
    const op = m[1] || "=";
    const want = parseVersion(m[2]);
    const cmp = compareVersions(v, want);
    switch (op) {
      case "=":
        return cmp === 0;
      case "!=":
        return cmp !== 0;
      case ">":
        return cmp > 0;
      case ">=":
        return cmp >= 0;
      case "<":
        return cmp < 0;
      case "<=":
        return cmp <= 0;
      case "~>": {
        // ~> 6.25 allows 6.25 up to (not including) 7.0; ~> 2.38.1 up to 2.39.
        if (cmp < 0) return false;
        const prefix = want.slice(0, Math.max(1, want.length - 1));
        return prefix.every((n, i) => v[i] === n);
      }
    }
    return false;
  });
}

// ------------------------------------------------------------- directories --

function tfDirs(root) {
  const dirs = [];
  (function walk(dir) {
    const entries = fs.readdirSync(dir, { withFileTypes: true });
    if (entries.some((e) => e.isFile() && e.name.endsWith(".tf"))) dirs.push(dir);
    for (const e of entries) if (e.isDirectory() && !SKIP_DIRS.has(e.name)) walk(path.join(dir, e.name));
  })(root);
  return dirs.sort();
}

async function loadDir(dir) {
  const info = {
    dir,
    variables: new Map(),
    outputs: new Set(),
    locals: new Set(),
    modules: new Map(),
    resource: new Map(),
    data: new Map(),
    ephemeral: new Map(),
    providerBlocks: [],
    requiredProviders: new Map(),
    files: [],
  };
  for (const name of fs.readdirSync(dir).filter((n) => n.endsWith(".tf")).sort()) {
    const file = path.join(dir, name);
    const body = await parse(file, fs.readFileSync(file, "utf8"));
    info.files.push({ file, body });
    for (const [n, [v]] of Object.entries(body.variable || {})) {
      info.variables.set(n, { hasDefault: "default" in v, type: v.type, file, described: Boolean(v.description) });
    }
    for (const n of Object.keys(body.output || {})) info.outputs.add(n);
    for (const [n, blocks] of Object.entries(body.provider || {})) {
      for (const b of blocks) info.providerBlocks.push({ name: n, body: b, file });
    }
    for (const tf of body.terraform || []) {
      for (const rp of tf.required_providers || []) {
        for (const [n, req] of Object.entries(rp)) info.requiredProviders.set(n, { ...req, file });
      }
    }
    for (const block of body.locals || []) for (const n of Object.keys(block)) info.locals.add(n);
    for (const [n, [m]] of Object.entries(body.module || {})) info.modules.set(n, { ...m, file });
    for (const kind of ["resource", "data", "ephemeral"]) {
      for (const [type, byName] of Object.entries(body[kind] || {})) {
        for (const [n, [b]] of Object.entries(byName)) info[kind].set(`${type}.${n}`, { type, name: n, body: b, file });
      }
    }
  }
  return info;
}

function* strings(value) {
  if (typeof value === "string") yield value;
  else if (Array.isArray(value)) for (const v of value) yield* strings(v);
  else if (value && typeof value === "object") {
    for (const [k, v] of Object.entries(value)) {
      yield k; // object keys can be expressions: (local.owned_tag) = "owned"
      yield* strings(v);
    }
  }
}

function objectTypeAttributes(typeExpr) {
  const m = /^\$\{object\(\{([\s\S]*)\}\)\}$/.exec((typeExpr || "").trim());
  if (!m) return null;
  // Top-level attribute names only (skip nested parentheses/braces).
  const names = [];
  let depth = 0;
  let token = "";
  for (const ch of m[1]) {
    if ("({[".includes(ch)) depth++;
    if (")}]".includes(ch)) depth--;
    if (depth === 0 && ch === "=") {
      const name = token.trim().split(/[\s,]+/).pop();
      if (name) names.push(name);
      token = "";
      continue;
    }
    if (depth === 0 && (ch === "\n" || ch === ",")) token = "";
    else if (depth === 0) token += ch;
  }
  return names;
}

// ------------------------------------------------------------------ main --

async function main(root) {
  const findings = [];
  const dirs = new Map();
  for (const dir of tfDirs(root)) dirs.set(path.resolve(dir), await loadDir(dir));
  const rel = (p) => path.relative(root, p) || ".";
  let blocks = 0;
  let calls = 0;

  for (const info of dirs.values()) {
    // Schema of every provider block.
    for (const kind of ["resource", "data", "ephemeral"]) {
      for (const { type, name, body, file } of info[kind].values()) {
        const provider = providerOf(type);
        if (!provider) continue;
        const schemaKind = kind === "data" ? "data" : "resource"; // ephemeral: same arguments as the resource
        const schema = loadSchema(provider, schemaKind, type);
        const where = `${rel(file)}: ${kind === "resource" ? "" : kind + "."}${type}.${name}`;
        if (!schema) {
          findings.push(`${where}: no ${schemaKind} type "${type}" in hashicorp/${provider} ${PROVIDERS[provider].version}`);
          continue;
        }
        blocks++;
        checkBody(schema, schema.root, body, where, findings);
      }
    }

    // Provider configuration blocks.
    const used = new Set();
    for (const { name, body, file } of info.providerBlocks) {
      used.add(name);
      if (!PROVIDERS[name]) continue;
      const schema = loadSchema(name, "provider", name);
      blocks++;
      checkBody(schema, schema.root, body, `${rel(file)}: provider "${name}"`, findings, PROVIDER_META);
    }

    // Pins: what the directory uses is declared, and what is declared admits
    // the schema version checked above.
    for (const kind of ["resource", "data", "ephemeral"]) {
      for (const { type } of info[kind].values()) if (providerOf(type)) used.add(providerOf(type));
    }
    for (const name of used) {
      if (PROVIDERS[name] && !info.requiredProviders.has(name)) {
        findings.push(`${rel(info.dir)}: uses hashicorp/${name} but its required_providers does not declare it`);
      }
    }
    for (const [name, req] of info.requiredProviders) {
      if (!PROVIDERS[name]) continue;
      typeIndex(name);
      const where = `${rel(req.file)}: required_providers.${name}`;
      if (req.source !== `hashicorp/${name}`) findings.push(`${where}: source must be hashicorp/${name}, got ${req.source}`);
      if (!req.version) findings.push(`${where}: no version constraint`);
      else if (!admits(req.version, PROVIDERS[name].version)) {
        findings.push(`${where}: "${req.version}" does not admit ${PROVIDERS[name].version}, the schema version checked here`);
      }
    }

    // Local module calls.
    for (const [name, call] of info.modules) {
      if (!/^\.\.?\//.test(call.source)) continue;
      calls++;
      const target = dirs.get(path.resolve(info.dir, call.source));
      const where = `${rel(call.file)}: module.${name}`;
      if (!target) {
        findings.push(`${where}: source ${call.source} is not a directory with .tf files`);
        continue;
      }
      for (const arg of Object.keys(call)) {
        if (arg === "file" || MODULE_META.has(arg)) continue;
        if (!target.variables.has(arg)) findings.push(`${where}: ${rel(target.dir)} has no variable "${arg}"`);
      }
      for (const [v, decl] of target.variables) {
        if (!decl.hasDefault && !(v in call)) findings.push(`${where}: required variable "${v}" of ${rel(target.dir)} is not set`);
        // A whole module (or an object variable) passed on: every attribute
        // the target's object type declares must be there.
        const attrs = typeof call[v] === "string" && objectTypeAttributes(decl.type);
        if (!attrs) continue;
        const m = /^\$\{module\.([\w-]+)\}$/.exec(call[v]);
        const source = m && info.modules.get(m[1]);
        const sourceDir = source && dirs.get(path.resolve(info.dir, source.source));
        if (sourceDir) {
          for (const a of attrs) {
            if (!sourceDir.outputs.has(a)) findings.push(`${where}: variable "${v}" needs attribute "${a}", which module.${m[1]} does not output`);
          }
        }
        const pv = /^\$\{var\.([\w-]+)\}$/.exec(call[v]);
        const have = pv && info.variables.has(pv[1]) && objectTypeAttributes(info.variables.get(pv[1]).type);
        if (have) {
          for (const a of attrs) {
            if (!have.includes(a)) findings.push(`${where}: variable "${v}" needs attribute "${a}", which var.${pv[1]} does not declare`);
          }
        }
      }
    }

    // House style: every variable says what it is and what type it takes.
    for (const [n, decl] of info.variables) {
      if (!decl.type) findings.push(`${rel(decl.file)}: variable "${n}" has no type`);
      if (!decl.described) findings.push(`${rel(decl.file)}: variable "${n}" has no description`);
    }

    // terraform.tfvars: only declared variables, and every required one.
    const tfvars = path.join(info.dir, "terraform.tfvars");
    if (fs.existsSync(tfvars)) {
      const values = await parse(tfvars, fs.readFileSync(tfvars, "utf8"));
      for (const v of Object.keys(values)) {
        if (!info.variables.has(v)) findings.push(`${rel(tfvars)}: "${v}" is not a variable of ${rel(info.dir)}`);
      }
      for (const [v, decl] of info.variables) {
        if (!decl.hasDefault && !(v in values)) findings.push(`${rel(tfvars)}: required variable "${v}" is not set`);
      }
    }

    // References.
    const seen = new Set();
    const report = (msg) => {
      if (!seen.has(msg)) {
        seen.add(msg);
        findings.push(msg);
      }
    };
    for (const { file, body } of info.files) {
      const where = rel(file);
      // moved/removed name addresses, not expressions: check only where
      // "to" starts.
      const { moved = [], removed, ...exprs } = body;
      for (const { to } of moved) {
        const m = /^\$\{(module\.[\w-]+|[a-z0-9_]+\.[\w-]+)/.exec(to || "");
        const head = m && m[1];
        const known = head && (head.startsWith("module.") ? info.modules.has(head.slice(7)) : info.resource.has(head));
        if (!known) report(`${where}: moved to ${to} names nothing declared here`);
      }
      for (const s of strings(exprs)) {
        if (!s.includes("${")) continue;
        let m;
        const varRe = /(?<![\w.])var\.([\w-]+)/g;
        while ((m = varRe.exec(s))) if (!info.variables.has(m[1])) report(`${where}: var.${m[1]} is not declared`);
        const localRe = /(?<![\w.])local\.([\w-]+)/g;
        while ((m = localRe.exec(s))) if (!info.locals.has(m[1])) report(`${where}: local.${m[1]} is not declared`);
        const modRe = /(?<![\w.])module\.([\w-]+)(?:\[[^\]]*\])?(?:\.([\w-]+))?/g;
        while ((m = modRe.exec(s))) {
          const call = info.modules.get(m[1]);
          if (!call) {
            report(`${where}: module.${m[1]} is not declared`);
            continue;
          }
          const target = /^\.\.?\//.test(call.source) && dirs.get(path.resolve(info.dir, call.source));
          if (m[2] && target && !target.outputs.has(m[2])) report(`${where}: module.${m[1]} has no output "${m[2]}"`);
        }
        const dataRe = /(?<![\w.])(data|ephemeral)\.([a-z0-9_]+)\.([\w-]+)/g;
        while ((m = dataRe.exec(s))) {
          if (!info[m[1]].has(`${m[2]}.${m[3]}`)) report(`${where}: ${m[1]}.${m[2]}.${m[3]} is not declared`);
        }
        const resRe = /(?<![\w.])((?:aws|random|kubernetes)_[a-z0-9_]+)\.([\w-]+)(?:\[[^\]]*\])?(?:\.([a-z0-9_]+))?/g;
        while ((m = resRe.exec(s))) {
          const decl = info.resource.get(`${m[1]}.${m[2]}`);
          if (!decl) {
            report(`${where}: resource ${m[1]}.${m[2]} is not declared`);
            continue;
          }
          const schema = loadSchema(providerOf(m[1]), "resource", m[1]);
          if (m[3] && schema && !schema.getters.has(camel(m[3]))) report(`${where}: ${m[1]} has no attribute "${m[3]}"`);
        }
      }
    }
  }

  for (const f of findings) console.error(`lint: ${f}`);
  const versions = Object.entries(PROVIDERS)
    .filter(([, p]) => p.version)
    .map(([n, p]) => `hashicorp/${n} ${p.version}`)
    .join(", ");
  console.log(`checked ${blocks} provider blocks against ${versions}; ${calls} module calls in ${dirs.size} directories; ${findings.length} findings`);
  return findings.length === 0 ? 0 : 1;
}

if (process.argv.length !== 3) {
  console.error("usage: lint-terraform.js DIR");
  process.exit(2);
}
main(path.resolve(process.argv[2])).then(
  (code) => process.exit(code),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
