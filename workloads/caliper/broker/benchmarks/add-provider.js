'use strict';

// Seed 004's addNetworkProvider: each transaction registers one offer of the worker's account.
// Deterministic: the n-th transaction of the run (n = counter * totalWorkers + workerIndex) always
// registers the same offer, so a port (the harness's) can send the very same ones. Every name has
// the same length, so every transaction costs the same calldata gas.
// @hyperledger/caliper-core is found through NODE_PATH (the Caliper install's node_modules),
// which benchmarks/_caliper.py sets; a workspace with its own Caliper install needs nothing.

const { WorkloadModuleBase } = require('@hyperledger/caliper-core');

class AddProvider extends WorkloadModuleBase {
    async initializeWorkloadModule(workerIndex, totalWorkers, roundIndex, roundArguments, sutAdapter, sutContext) {
        await super.initializeWorkloadModule(workerIndex, totalWorkers, roundIndex, roundArguments, sutAdapter, sutContext);
        this.counter = 0;
    }

    async submitTransaction() {
        // Counted before the await: Caliper does not wait for one call before the next.
        const counter = this.counter++;
        const n = counter * this.totalWorkers + this.workerIndex;
        const args = [
            `np-${this.workerIndex}-${String(counter).padStart(7, '0')}`, // name
            n % 4,                                 // resourceType: 0 bandwidth, 1 processing, 2 memory, 3 storage
            this.roundArguments.unitsPerProvider,  // units
            100 + (n * 37) % 900,                  // costPerUnit: 100 .. 999
            1 + Math.floor(n / 4) % 4,             // region 1..4
            1 + n % 3,                             // slaLevel 1..3
        ];
        // Every 48 consecutive offers cover each type x region x SLA once (16 and 3 are coprime).
        await this.sutAdapter.sendRequests({ contract: 'broker', verb: 'addNetworkProvider', args, readOnly: false });
    }
}

module.exports.createWorkloadModule = () => new AddProvider();
