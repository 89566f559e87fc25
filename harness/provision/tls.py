"""The testbed's TLS material, made on the controller for an inventory with ``vdlt_tls: true``.

``<inventory>/tls/`` holds the testbed's CA (``ca.pem``, ``ca.key``, made once), the
controller's client certificate (``controller.pem``/``.key``) and one certificate per node
(``nodes/<name>.pem``/``.key``) naming the node's address and inventory name, usable both to
serve and to call other nodes. The playbooks copy each node the CA certificate and its own pair;
nothing else leaves the controller. A node's certificate is made again when its address changes.
Private keys are written 0600. Delete the directory to start over with a new CA.
"""
from __future__ import annotations

import datetime
import ipaddress
import os
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from harness.provision.inventory import Inventory, Node
from protocol.errors import HarnessError
from protocol.tls import TlsFiles

TLS_DIR = "tls"
VALID_FOR = datetime.timedelta(days=825)
CONTROLLER_NAME = "harness-controller"


def _as_bool(value: object) -> bool:
    """As Ansible's `bool` filter reads it (the playbooks decide with that): "yes" and "true" are on."""
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on", "y", "t")
    return value in (True, 1)


def enabled(inventory: Inventory) -> bool:
    """Whether the inventory asks for TLS; every node must agree."""
    on = sorted(node.name for node in inventory.nodes if _as_bool(node.variables.get("vdlt_tls", False)))
    if on and len(on) < len(inventory.nodes):
        raise HarnessError(f"{inventory.hosts_file}: vdlt_tls must be the same for every node; "
                           f"it is true only for {', '.join(on)}")
    return bool(on)


def directory(inventory: Inventory) -> Path:
    return inventory.directory / TLS_DIR


def controller_files(inventory: Inventory) -> TlsFiles | None:
    """What the controller's own gRPC calls use: None when the inventory has no TLS."""
    if not enabled(inventory):
        return None
    folder = directory(inventory)
    files = TlsFiles(folder / "ca.pem", folder / "controller.pem", folder / "controller.key")
    missing = [str(path) for path in (files.ca, files.cert, files.key) if not path.is_file()]
    if missing:
        raise HarnessError(f"{inventory.hosts_file}: vdlt_tls is on, but the controller's TLS files are missing "
                           f"({', '.join(missing)}): `harness deploy` or `harness up` makes the testbed's TLS material")
    return files


def node_files_on_node(node_dir: str) -> TlsFiles:
    """Where the node_agent role puts a node's TLS files on the node itself, in its node directory."""
    folder = Path(node_dir) / TLS_DIR
    return TlsFiles(folder / "ca.pem", folder / "node.pem", folder / "node.key")


def ensure(inventory: Inventory) -> Path:
    """Makes whatever of the CA, the controller's and the nodes' certificates is missing or no
    longer names its node's address; returns the directory."""
    folder = directory(inventory)
    (folder / "nodes").mkdir(parents=True, exist_ok=True)
    ca_key, ca_cert = _ca(folder)
    _leaf(folder / "controller", CONTROLLER_NAME, [x509.DNSName(CONTROLLER_NAME)], ca_key, ca_cert,
          [ExtendedKeyUsageOID.CLIENT_AUTH])
    for node in inventory.nodes:
        _leaf(folder / "nodes" / node.name, node.name, _node_names(node), ca_key, ca_cert,
              [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH])
    return folder


def _node_names(node: Node) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = []
    for value in dict.fromkeys([node.address, node.name]):
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(value)))
        except ValueError:
            names.append(x509.DNSName(value))
    return names


def _ca(folder: Path) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key_path, cert_path = folder / "ca.key", folder / "ca.pem"
    if key_path.exists() and cert_path.exists():
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise HarnessError(f"{key_path}: not an EC private key (delete {folder} to start over with a new CA)")
        return key, x509.load_pem_x509_certificate(cert_path.read_bytes())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"vdlt-harness testbed CA ({folder.parent.name})")])
    usage = x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                          key_encipherment=False, data_encipherment=False, key_agreement=False,
                          encipher_only=False, decipher_only=False)
    return _issue(key_path, cert_path, name, name, None,
                  [(x509.BasicConstraints(ca=True, path_length=0), True), (usage, True)])


def _leaf(stem: Path, common_name: str, names: list[x509.GeneralName], ca_key: ec.EllipticCurvePrivateKey,
          ca_cert: x509.Certificate, usages: list[x509.ObjectIdentifier]) -> None:
    key_path, cert_path = stem.with_suffix(".key"), stem.with_suffix(".pem")
    if key_path.exists() and cert_path.exists() and _still_good(key_path, cert_path, names, ca_cert):
        return
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    _issue(key_path, cert_path, subject, ca_cert.subject, ca_key,
           [(x509.SubjectAlternativeName(names), False), (x509.BasicConstraints(ca=False, path_length=None), True),
            (x509.ExtendedKeyUsage(usages), False)])


def _issue(key_path: Path, cert_path: Path, subject: x509.Name, issuer: x509.Name,
           issuer_key: ec.EllipticCurvePrivateKey | None,
           extensions: list[tuple[x509.ExtensionType, bool]]) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A new key and its certificate, signed by ``issuer_key`` (self-signed when None), written."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + VALID_FOR)
    )
    for extension, critical in extensions:
        builder = builder.add_extension(extension, critical=critical)
    cert = builder.sign(issuer_key or key, hashes.SHA256())
    _write_key(key_path, key)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key, cert


def _still_good(key_path: Path, cert_path: Path, names: list[x509.GeneralName], ca_cert: x509.Certificate) -> bool:
    """The pair matches, names these names and is signed by this very CA (not an earlier one)."""
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        cert.verify_directly_issued_by(ca_cert)
        current = list(cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value)
    except (ValueError, TypeError, InvalidSignature, x509.ExtensionNotFound):
        return False
    return current == names and cert.public_key() == key.public_key()


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    partial = path.with_suffix(".partial")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as out:
        out.write(pem)
    partial.replace(path)
