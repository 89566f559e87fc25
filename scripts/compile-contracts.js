// Compiles every contracts/*.sol with the project's solc-js (node_modules/solc) and writes one
// Caliper contract definition per deployable contract: workloads/contracts/<kebab-name>.json with
// the keys of caliper-benchmarks' src/ethereum/simple/simple.json (name, abi, bytecode, gas).
// Run through scripts/compile-contracts. Output is byte-for-byte reproducible: no metadata hash
// in the bytecode, fixed key order, sorted inputs.
"use strict";

const fs = require("fs");
const path = require("path");

const root = path.resolve(__dirname, "..");
const solc = require(path.join(root, "node_modules", "solc"));

// ganache runs with --chain.hardfork berlin (no EIP-1559 base fee, see harness/testing/ganache.py);
// solc >= 0.8.20 would otherwise emit PUSH0 (shanghai), which berlin rejects.
const EVM_VERSION = "berlin";
const OPTIMIZER_RUNS = 200;

function kebab(name) {
  return name.replace(/([a-z0-9])([A-Z])/g, "$1-$2").replace(/([A-Z])([A-Z][a-z])/g, "$1-$2").toLowerCase();
}

// The deploy gas limit Caliper sends. An upper bound, not a measurement: the transaction's base
// cost (21000) and creation (32000), 16 per byte of creation code (every byte priced as non-zero),
// 200 per byte of deployed code, and 100000 for the constructor's own work (a few storage writes;
// ours write none), rounded up to 100000. ResourceBroker: 900000 allowed, 722523 used on ganache
// (ganache 7.9.2, berlin). Keep it under the chain's block gas limit.
function deployGas(creationHex, runtimeHex) {
  const creationBytes = creationHex.length / 2;
  const runtimeBytes = runtimeHex.length / 2;
  const bound = 21000 + 32000 + 16 * creationBytes + 200 * runtimeBytes + 100000;
  return Math.ceil(bound / 100000) * 100000;
}

function main() {
  const contractsDir = path.join(root, "contracts");
  const outDir = path.join(root, "workloads", "contracts");
  const files = fs.readdirSync(contractsDir).filter((f) => f.endsWith(".sol")).sort();
  if (files.length === 0) {
    console.error(`compile-contracts: no .sol files in ${contractsDir}`);
    return 1;
  }
  const sources = {};
  for (const file of files) {
    // Relative names keep the checkout's location out of the compiler's input.
    sources[`contracts/${file}`] = { content: fs.readFileSync(path.join(contractsDir, file), "utf8") };
  }
  const input = {
    language: "Solidity",
    sources,
    settings: {
      optimizer: { enabled: true, runs: OPTIMIZER_RUNS },
      evmVersion: EVM_VERSION,
      metadata: { bytecodeHash: "none" },
      outputSelection: { "*": { "*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"] } },
    },
  };
  const output = JSON.parse(solc.compile(JSON.stringify(input)));
  let failed = false;
  for (const message of output.errors || []) {
    console.error(message.formattedMessage || message.message);
    if (message.severity === "error") failed = true;
  }
  if (failed) return 1;

  fs.mkdirSync(outDir, { recursive: true });
  for (const source of Object.keys(output.contracts).sort()) {
    for (const name of Object.keys(output.contracts[source]).sort()) {
      const contract = output.contracts[source][name];
      const creation = contract.evm.bytecode.object;
      if (!creation) continue; // interfaces and abstract contracts cannot be deployed
      const definition = {
        name,
        abi: contract.abi,
        bytecode: "0x" + creation,
        gas: deployGas(creation, contract.evm.deployedBytecode.object),
      };
      const target = path.join(outDir, `${kebab(name)}.json`);
      fs.writeFileSync(target, JSON.stringify(definition, null, 2) + "\n");
      console.log(`${path.relative(root, target)}: ${name}, ${creation.length / 2} bytes, gas ${definition.gas} (solc ${solc.version()}, ${EVM_VERSION})`);
    }
  }
  return 0;
}

process.exitCode = main();
