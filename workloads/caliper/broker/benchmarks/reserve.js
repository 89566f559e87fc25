'use strict';

// Seed 004's ResourceReservationTransaction: the worker's account buys `units` (1) of offer
// n mod `providers`, with n = counter * totalWorkers + workerIndex, i.e. round-robin over the
// offers 0 .. providers-1 that round 1 (addNetworkProvider) registered on the same chain.
// The contract reverts ("no such provider") if round 1 added fewer than `providers`.

const { WorkloadModuleBase } = require('@hyperledger/caliper-core');

class Reserve extends WorkloadModuleBase {
    async initializeWorkloadModule(workerIndex, totalWorkers, roundIndex, roundArguments, sutAdapter, sutContext) {
        await super.initializeWorkloadModule(workerIndex, totalWorkers, roundIndex, roundArguments, sutAdapter, sutContext);
        this.counter = 0;
    }

    async submitTransaction() {
        const n = this.counter++ * this.totalWorkers + this.workerIndex;
        const args = [n % this.roundArguments.providers, this.roundArguments.units];
        await this.sutAdapter.sendRequests({ contract: 'broker', verb: 'reserve', args, readOnly: false });
    }
}

module.exports.createWorkloadModule = () => new Reserve();
