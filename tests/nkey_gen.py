# Prints a new NATS user nkey: its seed (SU...) and its public key (U...), one per line, as
# `nk -gen user -pubout` does (ed25519 from python3-cryptography; base32 with a CRC-16).
import base64, os, sys
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives import serialization
def crc16(data):
    crc = 0
    for b in data:
        crc ^= b << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
            crc &= 0xFFFF
    return crc
def enc(raw):
    return base64.b32encode(raw + crc16(raw).to_bytes(2, "little")).decode().rstrip("=")
seed = os.urandom(32)
pub = Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes(
    serialization.Encoding.Raw, serialization.PublicFormat.Raw)
user = 20 << 3
print(enc(bytes([(18 << 3) | (user >> 5), (user & 31) << 3]) + seed))
print(enc(bytes([user]) + pub))
