#!/usr/bin/env node
// Parses every .tf / .tftest.hcl / .tfvars file under the given directories (or
// files) with HashiCorp's HCL parser (hcl2json, Go's hclsyntax built to
// WebAssembly) and prints each file's diagnostics. Exits 1 when any file fails
// to parse, 2 on bad usage, 0 otherwise.
"use strict";

const fs = require("fs");
const path = require("path");
const { parse } = require("@cdktf/hcl2json");

const PATTERN = /\.(tf|tftest\.hcl|tfvars)$/;
const SKIP_DIRS = new Set([".terraform", "node_modules", ".git"]);

function collect(target, out) {
  const stat = fs.statSync(target);
  if (stat.isFile()) {
    out.push(target);
    return;
  }
  for (const entry of fs.readdirSync(target, { withFileTypes: true })) {
    if (entry.isDirectory()) {
      if (!SKIP_DIRS.has(entry.name)) collect(path.join(target, entry.name), out);
    } else if (PATTERN.test(entry.name)) {
      out.push(path.join(target, entry.name));
    }
  }
}

async function main(args) {
  if (args.length === 0) {
    console.error("usage: parse-hcl.js DIR_OR_FILE...");
    return 2;
  }
  const files = [];
  for (const arg of args) collect(arg, files);
  files.sort();
  if (files.length === 0) {
    console.error("parse-hcl: no .tf, .tftest.hcl or .tfvars files found");
    return 1;
  }
  let failed = 0;
  for (const file of files) {
    try {
      const body = await parse(file, fs.readFileSync(file, "utf8"));
      if (body === null || typeof body !== "object") throw new Error("parser returned no body");
    } catch (err) {
      failed += 1;
      console.error(`parse error: ${file}\n${String(err.message || err).trim()}`);
    }
  }
  console.log(`parsed ${files.length - failed}/${files.length} HCL files`);
  return failed === 0 ? 0 : 1;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
