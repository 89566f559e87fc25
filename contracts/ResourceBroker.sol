// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.19;

/// @title The resource broker of seed 004 (Xevgenis et al., Information 2020, 11(12), 570)
/// @notice Network providers (NPs) offer spare resources (bandwidth, processing, memory, ...) and
/// other NPs buy them. The paper's contract has three functions, which this one keeps:
/// addNetworkProvider (a write: an NP registers what it offers), getBestMatch (a read that "does
/// not write any information": the cheapest NP that can serve a request, found by a linear scan
/// that "requires significant processing") and ResourceReservationTransaction (a write: the
/// requester pays the provider's cost, the provider's balance increases, the resources move).
/// The paper gives no signatures; the shapes below are ours.
/// @dev Choices of ours, for gas and for load generators:
/// - One offer is one resource type. An NP offering several types registers once per type.
/// - Regions and SLA levels are small integer codes, not strings: getBestMatch compares them for
///   every provider, and string comparison (hashing) would dominate its cost. The name is the only
///   string; it is stored, never read by the contract.
/// - Payment is in internal balances, not ether (the paper pays in ether on Quorum): any account
///   that can pay for gas can reserve. The requester's balance goes down by the cost and the
///   provider's goes up, so the balances always sum to zero.
/// - A provider's hot fields fill one storage slot, so the scan reads at most two slots per
///   provider (the cost only when the rest matches).
contract ResourceBroker {
    struct Provider {
        address wallet; // the NP's account: whoever called addNetworkProvider
        uint8 resourceType; // code of the offered resource, e.g. 0 bandwidth, 1 processing, 2 memory
        uint8 slaLevel; // the highest SLA level the NP supports (higher is stricter)
        uint16 region; // code of the region the NP covers
        uint64 unitsAvailable; // units still offered; reservations take them
        uint128 costPerUnit; // in the broker's internal currency
        string name;
    }

    /// @notice What getBestMatch returns when no provider can serve the request.
    uint256 public constant NO_MATCH = type(uint256).max;

    /// @notice Every offer, in registration order; an offer's id is its index.
    Provider[] public providers;

    /// @notice Internal balances: providers earn, requesters pay (negative when they owe).
    mapping(address => int256) public balances;

    /// @notice Units bought, per buyer and resource type ("the resources of the provider that
    /// purchased the resources increase").
    mapping(address => mapping(uint8 => uint256)) public acquiredUnits;

    event ProviderAdded(uint256 indexed providerId, address indexed wallet, uint8 resourceType, uint64 units);
    event Reserved(uint256 indexed providerId, address indexed requester, uint64 units, uint256 cost);

    /// @notice Seed 004's addNetworkProvider: registers an offer of msg.sender's.
    /// @return providerId the new offer's id (0-based)
    function addNetworkProvider(
        string calldata name,
        uint8 resourceType,
        uint64 units,
        uint128 costPerUnit,
        uint16 region,
        uint8 slaLevel
    ) external returns (uint256 providerId) {
        providerId = providers.length;
        providers.push(Provider(msg.sender, resourceType, slaLevel, region, units, costPerUnit, name));
        emit ProviderAdded(providerId, msg.sender, resourceType, units);
    }

    /// @notice Seed 004's getBestMatch: the cheapest provider of `resourceType` with at least
    /// `units` available in `region` (0 = any region) and an SLA level of at least `minSla`.
    /// A linear scan over every provider, as in the paper; ties go to the lowest id.
    /// @return providerId the offer's id, or NO_MATCH (type(uint256).max) when none can serve it
    function getBestMatch(uint8 resourceType, uint64 units, uint16 region, uint8 minSla)
        external
        view
        returns (uint256 providerId)
    {
        providerId = NO_MATCH;
        uint256 bestCost = type(uint256).max;
        uint256 count = providers.length;
        for (uint256 i = 0; i < count; i++) {
            Provider storage p = providers[i];
            if (
                p.resourceType == resourceType && p.unitsAvailable >= units && p.slaLevel >= minSla
                    && (region == 0 || p.region == region)
            ) {
                // Every candidate serves the same number of units, so the cheapest per unit is
                // the cheapest in total.
                uint256 cost = p.costPerUnit;
                if (cost < bestCost) {
                    bestCost = cost;
                    providerId = i;
                }
            }
        }
    }

    /// @notice Seed 004's ResourceReservationTransaction: msg.sender buys `units` of the offer
    /// `providerId`. The offer loses the units, the buyer gains them, and the cost
    /// (costPerUnit * units) moves from the buyer's internal balance to the provider's.
    function reserve(uint256 providerId, uint64 units) external {
        require(providerId < providers.length, "no such provider");
        Provider storage p = providers[providerId];
        require(p.unitsAvailable >= units, "not enough units");
        p.unitsAvailable -= units;
        // < 2**192: fits int256.
        uint256 cost = uint256(p.costPerUnit) * units;
        balances[msg.sender] -= int256(cost);
        balances[p.wallet] += int256(cost);
        acquiredUnits[msg.sender][p.resourceType] += units;
        emit Reserved(providerId, msg.sender, units, cost);
    }

    /// @notice How many offers were registered (ids are 0 .. providerCount() - 1).
    function providerCount() external view returns (uint256) {
        return providers.length;
    }
}
