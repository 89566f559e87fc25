'use strict';

// Seed 004's getBestMatch, a read (eth_call, no transaction): the cheapest provider for a request,
// found by a linear scan over every provider. Requests vary deterministically with
// n = counter * totalWorkers + workerIndex: moduli 4, 5, 3 and 7 are coprime, so the
// combinations cycle every 420 calls. Once round 1 has added 48 offers (all type x region x SLA),
// every request has a match; region 0 means any region.

const { WorkloadModuleBase } = require('@hyperledger/caliper-core');

class GetBestMatch extends WorkloadModuleBase {
    async initializeWorkloadModule(workerIndex, totalWorkers, roundIndex, roundArguments, sutAdapter, sutContext) {
        await super.initializeWorkloadModule(workerIndex, totalWorkers, roundIndex, roundArguments, sutAdapter, sutContext);
        this.counter = 0;
    }

    async submitTransaction() {
        const n = this.counter++ * this.totalWorkers + this.workerIndex;
        const args = [
            n % 4,      // resourceType 0..3
            1 + n % 7,  // units 1..7 (every offer has unitsPerProvider)
            n % 5,      // region: 0 (any) or 1..4
            1 + n % 3,  // minSla 1..3
        ];
        await this.sutAdapter.sendRequests({ contract: 'broker', verb: 'getBestMatch', args, readOnly: true });
    }
}

module.exports.createWorkloadModule = () => new GetBestMatch();
