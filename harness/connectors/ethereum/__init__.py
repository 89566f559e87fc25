"""The Ethereum connector: Caliper's network files, accounts and signing, JSON-RPC, confirmation.

``network`` reads the network file, ``setup`` readies a chain for a run (contracts deployed,
senders funded), ``connector`` is what each worker drives the chain with, over ``rpc``; ``keys``
signs, ``abi`` encodes calls, ``pricing`` gives each class of service its gas price.
"""
