"""Accounts and signatures: Caliper's worker accounts, EIP-155 legacy transactions, signed here.

Keys are secp256k1 (``coincurve``, libsecp256k1) and hashes keccak-256 (pycryptodome; Python's
``hashlib.sha3_256`` is the later SHA-3 and gives other digests). A transaction is encoded with
the few lines of RLP it needs rather than a library's transaction model: signing is most of what
a load generator spends per Ethereum transaction, and ``benchmarks/ethereum_client_cost.py``
measured what each way costs.

Caliper 0.6 derives worker ``w``'s account from ``fromAddressSeed`` with BIP-32 at
``m/44'/60'/<w>'/0/0``, taking the seed string itself, ``0x`` included, as the master seed's
bytes (not hex-decoded, not a mnemonic): :func:`caliper_worker_key` does the same, so both tools
send from the same funded accounts. :func:`class_key` gives a worker one more account per class
of service (``.../0/<k>``): a chain orders one sender's transactions by nonce, so classes that
share a sender would queue behind each other whatever each pays.
"""
from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from coincurve import PrivateKey
from Crypto.Hash import keccak

# A plain transfer's gas (no call data): what funding a sender or filling a nonce costs.
TRANSFER_GAS = 21_000
CURVE_ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
HARDENED = 0x8000_0000


def keccak256(data: bytes) -> bytes:
    return keccak.new(digest_bits=256, data=data).digest()


def _child(key: int, chain: bytes, index: int) -> tuple[int, bytes]:
    """BIP-32: the private child ``index`` of (``key``, ``chain``)."""
    if index >= HARDENED:
        data = b"\x00" + key.to_bytes(32, "big") + index.to_bytes(4, "big")
    else:
        data = PrivateKey(key.to_bytes(32, "big")).public_key.format(compressed=True) + index.to_bytes(4, "big")
    digest = hmac.new(chain, data, hashlib.sha512).digest()
    return (int.from_bytes(digest[:32], "big") + key) % CURVE_ORDER, digest[32:]


def derive(seed: bytes, path: str) -> bytes:
    """The private key at BIP-32 ``path`` (``m/44'/60'/0'/0/0``) from a master ``seed``."""
    digest = hmac.new(b"Bitcoin seed", seed, hashlib.sha512).digest()
    key, chain = int.from_bytes(digest[:32], "big"), digest[32:]
    parts = path.split("/")
    if parts[0] != "m":
        raise ValueError(f"a derivation path starts with m/, not {path!r}")
    for part in parts[1:]:
        index = int(part.rstrip("'")) + (HARDENED if part.endswith("'") else 0)
        key, chain = _child(key, chain, index)
    return key.to_bytes(32, "big")


def caliper_worker_key(seed: str, worker: int) -> bytes:
    """Worker ``worker``'s key from a Caliper ``fromAddressSeed``, as Caliper 0.6 derives it."""
    return class_key(seed, worker, 0)


def class_key(seed: str, worker: int, class_index: int) -> bytes:
    """The key worker ``worker`` sends its ``class_index``-th class of service from (0: Caliper's)."""
    return derive(seed.encode(), f"m/44'/60'/{worker}'/0/{class_index}")


def parse_key(text: str) -> bytes:
    body = text[2:] if text[:2].lower() == "0x" else text
    return bytes.fromhex(body)


def address_of(key: bytes) -> str:
    """The checksummed address (EIP-55) of a private key."""
    public = PrivateKey(key).public_key.format(compressed=False)[1:]
    return checksum(keccak256(public)[12:].hex())


def checksum(address: str) -> str:
    body = address[2:].lower() if address[:2].lower() == "0x" else address.lower()
    digest = keccak256(body.encode()).hex()
    return "0x" + "".join(c.upper() if int(digest[i], 16) >= 8 else c for i, c in enumerate(body))


# -- RLP, as much as a legacy transaction needs ------------------------------------------------

def _length_prefix(length: int, offset: int) -> bytes:
    if length < 56:
        return bytes([offset + length])
    size = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([offset + 55 + len(size)]) + size


def _rlp_bytes(value: bytes) -> bytes:
    if len(value) == 1 and value[0] < 0x80:
        return value
    return _length_prefix(len(value), 0x80) + value


def _rlp_int(value: int) -> bytes:
    return _rlp_bytes(value.to_bytes((value.bit_length() + 7) // 8, "big") if value else b"")


def rlp_list(items: list[bytes]) -> bytes:
    """An RLP list of already encoded items."""
    body = b"".join(items)
    return _length_prefix(len(body), 0xC0) + body


@dataclass(frozen=True)
class Signer:
    """Signs legacy (type 0) transactions with replay protection (EIP-155) for one account."""

    key: bytes
    chain_id: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "_private", PrivateKey(self.key))
        object.__setattr__(self, "address", address_of(self.key))

    def sign(self, nonce: int, gas_price: int, gas: int, to: bytes, value: int, data: bytes) -> tuple[bytes, bytes]:
        """The raw transaction and its hash; ``to`` empty for a contract creation."""
        fields = [_rlp_int(nonce), _rlp_int(gas_price), _rlp_int(gas), _rlp_bytes(to), _rlp_int(value),
                  _rlp_bytes(data)]
        digest = keccak256(rlp_list([*fields, _rlp_int(self.chain_id), b"\x80", b"\x80"]))
        signature = self._private.sign_recoverable(digest, hasher=None)  # type: ignore[attr-defined]
        r, s, recovery = signature[:32], signature[32:64], signature[64]
        raw = rlp_list([*fields, _rlp_int(self.chain_id * 2 + 35 + recovery), _rlp_bytes(r.lstrip(b"\x00")),
                        _rlp_bytes(s.lstrip(b"\x00"))])
        return raw, keccak256(raw)


def contract_address(sender: str, nonce: int) -> str:
    """Where a contract created by ``sender``'s transaction ``nonce`` lives."""
    return checksum(keccak256(rlp_list([_rlp_bytes(bytes.fromhex(sender[2:])), _rlp_int(nonce)]))[12:].hex())
