"""Benchmark: DKIM signatures/s, our signer against dkimpy's ``dkim.sign``, in one run.

Both sign the same personalised messages (a Russian digest of the sample reports, about 18 KB
each, built as the outbox builds them) with one RSA-2048 key, rsa-sha256 and relaxed/relaxed
over the same header fields. Ours parses the key once and signs with OpenSSL; dkimpy parses
the PEM and does the RSA in Python for every message. Before timing, ours signs the first
message at the t= of dkimpy's field for it, the two fields are compared, and dkimpy verifies
ours. Last line: one JSON object with the figures.

    .venv/bin/python bench/dkim.py [--messages 2000] [--naive 200] [--items 5]
"""

from __future__ import annotations

import argparse
import base64
import json
import re
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
# The repository instead of bench/, where this file would stand for dkimpy's module `dkim`.
sys.path[:] = [str(REPO), *(p for p in sys.path if Path(p).resolve() != HERE)]

import dkim

from bench.render import digest, recipients
from newsletter.mail.compose import MailSettings, build_template
from newsletter.mail.dkim import DKIM_HEADERS, DkimSigner
from newsletter.mail.render import Renderer, load_translations

SELECTOR, DOMAIN = "news", "example.org"


def messages(count: int, items: int) -> list[bytes]:
    """``count`` personalised messages of one Russian digest of ``items`` reports."""
    renderer = Renderer(REPO / "templates", load_translations(REPO / "translations"))
    mail = MailSettings("Гуманитарные новости", "updates@example.org", "daily.example.org",
                        "Центральная Азия: ежедневная сводка")
    template = build_template(renderer.render(digest(items, "ru")), mail,
                              date=datetime(2026, 1, 15, 9, tzinfo=UTC))
    return [template.personalise(person) for person in recipients(count)]


def dkimpy_sign(message: bytes, pem: bytes) -> bytes:
    return bytes(dkim.sign(message, SELECTOR.encode(), DOMAIN.encode(), pem,
                           canonicalize=(b"relaxed", b"relaxed"),
                           include_headers=list(DKIM_HEADERS)))


def checked(signer: DkimSigner, message: bytes, key: rsa.RSAPrivateKey) -> bool:
    """Whether ours is dkimpy's field, byte for byte, at dkimpy's t=, and dkimpy verifies it."""
    theirs = dkimpy_sign(message, signer.private_key)
    found = re.search(rb"[; ]t=(\d+);", theirs)
    assert found is not None
    ours = signer.sign(message, now=int(found.group(1)))
    public = key.public_key().public_bytes(serialization.Encoding.DER,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
    record = b"v=DKIM1; k=rsa; p=" + base64.b64encode(public)
    verified = dkim.verify(ours, dnsfunc=lambda name, timeout=5: record)
    return ours == theirs + message and bool(verified)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--naive", type=int, default=200, help="messages for dkimpy")
    parser.add_argument("--items", type=int, default=5, help="reports in the digest")
    args = parser.parse_args()
    key = rsa.generate_private_key(65537, 2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    batch = messages(max(args.messages, args.naive), args.items)
    size = sum(len(m) for m in batch) // len(batch)

    started = time.perf_counter()
    signer = DkimSigner(SELECTOR, DOMAIN, pem)
    key_ms = (time.perf_counter() - started) * 1000
    identical = checked(signer, batch[0], key)

    started = time.perf_counter()
    for message in batch[:args.messages]:
        signer.sign(message)
    ours = args.messages / (time.perf_counter() - started)

    started = time.perf_counter()
    for message in batch[:args.naive]:
        dkimpy_sign(message, pem)
    naive = args.naive / (time.perf_counter() - started)

    print(f"a Russian digest of {args.items} reports, ~{size:,} bytes per message; RSA-2048, "
          f"rsa-sha256, relaxed/relaxed; key parsed once in {key_ms:.1f} ms")
    print(f"ours (cryptography/OpenSSL) {ours:8,.0f} signatures/s ({1000 / ours:.2f} ms each, "
          f"{args.messages} messages)")
    print(f"dkimpy dkim.sign            {naive:8,.0f} signatures/s ({1000 / naive:.2f} ms each, "
          f"{args.naive} messages)")
    print(f"ratio ours/dkimpy           {ours / naive:8.1f}x; same field as dkimpy's and "
          f"verified by it: {'yes' if identical else 'NO'}")
    print(json.dumps({"bench": "dkim", "messages": args.messages, "naive": args.naive,
                      "bytes_per_message": size, "signatures_per_s": round(ours),
                      "dkimpy_signatures_per_s": round(naive, 1),
                      "ratio_vs_dkimpy": round(ours / naive, 1),
                      "identical_to_dkimpy": identical}))


if __name__ == "__main__":
    main()
