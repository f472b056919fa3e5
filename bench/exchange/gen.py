#!/usr/bin/env python3
"""gen.py: signed LGSP gateway requests for wrk (bench/exchange/run).

  gen.py keygen KEYFILE
      writes a new Ed25519 private key (32-byte seed, hex) to KEYFILE and prints
      the public key (hex) for `tinhso exchange subsystem add --public-key`.
  gen.py requests KEYFILE CLIENT PREFIX N THREADS OUT [PURPOSE [SUBJECT]]
      writes THREADS files OUT.0 .. OUT.<THREADS-1>, N requests in all, one a
      line: "path<TAB>time<TAB>nonce<TAB>signature", each a GET of
      PREFIX/<12-digit id> signed for CLIENT ("member/subsystem") with a fresh
      nonce and the current time (so use them within five minutes), following
      the canonical request of src/exchange/exchange.h.
Needs python3-cryptography (Debian package)."""
import hashlib
import os
import sys
import time
from urllib.parse import quote

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

EMPTY = hashlib.sha256(b"").hexdigest()


def keygen(path):
    k = Ed25519PrivateKey.generate()
    seed = k.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                           serialization.NoEncryption())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.write(fd, seed.hex().encode() + b"\n")
    os.close(fd)
    print(k.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw).hex())


def requests(keyfile, client, prefix, n, threads, out, purpose="", subject=""):
    key = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(open(keyfile).read().strip()))
    n, threads = int(n), int(threads)
    files = [open("%s.%d" % (out, t), "w") for t in range(threads)]
    t = str(int(time.time() * 1000))
    salt = os.urandom(6).hex()
    for i in range(n):
        path = "%s/%012d" % (prefix, 30095000000 + i % 1000000)
        nonce = "%s%010d" % (salt, i)
        canon = "\n".join(["tinhso-x-road-v1", "GET", path, "", EMPTY, t, nonce, client, purpose, subject])
        sig = key.sign(canon.encode()).hex()
        files[i % threads].write("%s\t%s\t%s\t%s\n" % (quote(path, safe="/-._~"), t, nonce, sig))
    for f in files:
        f.close()


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "keygen":
        keygen(sys.argv[2])
    elif len(sys.argv) >= 8 and sys.argv[1] == "requests":
        requests(*sys.argv[2:])
    else:
        sys.exit(__doc__)
