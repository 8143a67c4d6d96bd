"""Benchmark: messages/s into a discarding SMTP sink, ``newsletter deliver`` against a naive
sender, raw aiosmtplib, a minimal pipelined sender and Postfix's ``smtp-source``, in one run.

Every contender is a process of its own, timed from its launch to its end: what a user waits
for, the interpreter's start, the imports and the set-up included. Its CPU time is its own and
its children's (``os.wait4``). All send to the same sink over as many connections as ours
(``--connections`` x ``--processes``), the naive one excepted:

* **ours**: ``newsletter deliver --json --processes N`` on an outbox of ``--messages`` rows
  of a digest of the sample reports, a third each in en, ru and kk, about 18 KB a message:
  claims, fenced leases, each message filled in per reader (To, Message-ID, greeting, signed
  unsubscribe and manage links), batched outcome writes, pipelined SMTP sessions. Between
  rounds the outbox is put back to pending (not timed). Also timed: the same command with
  nothing due, its start-up alone (the floor under ours);
* **naive** (``--naive`` messages): a fresh ``EmailMessage`` per message from the digest's
  text and HTML, one ``smtplib`` connection per message;
* **raw aiosmtplib**: the bytes ours made for each reader (read from a file by the timed
  process) through ``aiosmtplib.SMTP.sendmail``, with no outbox;
* **minimal pipelined**: plain asyncio streams, one message per reader, with the same
  personalisation: the digest's message in the reader's language, built once with its
  per-reader parts left open (address and name, Message-ID, the unsubscribe and manage
  tokens, HMAC-SHA256 signed as ours), filled in per message (the same bytes as ours but for
  the Message-ID) and dot-stuffed once (no per-reader value starts a line); ``MAIL``,
  ``RCPT`` and ``DATA`` in one write when the sink offers PIPELINING (RFC 2920), then the
  content: two round trips a message, as ours; no outbox;
* **smtp-source** (when Postfix is installed): Postfix's C test client sending one of our
  messages (``-F``, the one nearest the mean size) ``--messages`` times over as many
  sessions, each kept open (``-d``). It has no pipelining (four round trips a message,
  against two for ours) but spends next to no CPU: the nearest thing here to what the sink
  and the loopback allow.

``--rounds`` rounds, each contender once a round in the same order (A B C D E, A B C D E),
so that a busy moment of the machine hits all alike; a figure is its median over the rounds
and a ratio is between medians of the same run. The sink (``--sink``) is Postfix's
``smtp-sink`` (C) when it is installed, else aiosmtpd, each in its own process on 127.0.0.1
(aiosmtpd offers no PIPELINING: every sender then goes one command at a time), or a sink
already running at HOST:PORT. ``--dkim`` signs ours (a fresh 2048-bit RSA key); the other
contenders never sign. Last line: one JSON object with every figure.

    .venv/bin/python bench/send.py [--messages 20000] [--naive 1000] [--connections 4]
        [--processes 1] [--rounds 3] [--sink auto|smtp-sink|aiosmtpd|HOST:PORT] [--dkim]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

# Nothing of newsletter's at the top: a contender's process (``--contender``) imports only
# what it uses, so its start-up is its own.
from bench.sink import sink

if TYPE_CHECKING:
    from newsletter.app import Instance
    from newsletter.delivery.rules import OutboxRow
    from newsletter.issues.messages import IssueMessages

SECRET = "bench-secret-0123456789"
SENDER = "updates@example.org"
LANGUAGES = ("en", "ru", "kk")  # reader i reads LANGUAGES[i % 3]
# The per-reader parts of the minimal sender's templates, between NUL bytes.
HOLES = ("address", "name", "message_id", "unsubscribe", "manage")
SMTP_SOURCE = "smtp-source"
CONTENDERS = ("naive", "raw", "minimal")  # run by this file in a process of their own


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--naive", type=int, default=1_000, help="messages for the naive path")
    parser.add_argument("--connections", type=int, default=4, help="SMTP connections per process")
    parser.add_argument("--processes", type=int, default=1, help="sending processes (ours)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds")
    parser.add_argument("--sink", default="auto",
                        help="smtp-sink, aiosmtpd, auto (smtp-sink when installed) or HOST:PORT")
    parser.add_argument("--dkim", action="store_true", help="DKIM-sign every message (ours)")
    # One contender, run by the benchmark in a process of its own (see contender()).
    parser.add_argument("--contender", choices=CONTENDERS, help=argparse.SUPPRESS)
    parser.add_argument("--relay", help=argparse.SUPPRESS)
    parser.add_argument("--input", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.contender:
        host, _, port = args.relay.rpartition(":")
        sent = CONTEND[args.contender](host, int(port), args.input, args.messages,
                                       args.connections)
        print(json.dumps({"sent": sent}))
        return
    work = Path(tempfile.mkdtemp(prefix="bench-send-"))
    try:
        with sink(args.sink) as (host, port, described):
            figures = run(work, host, port, args)
            figures["sink"] = described
    finally:
        shutil.rmtree(work, ignore_errors=True)
    show(figures, args)


def show(figures: dict[str, object], args: argparse.Namespace) -> None:
    """The human summary, then the JSON line."""
    print(f"sink: {figures['sink']}; {figures['bytes_per_message']:,} bytes per message; "
          f"{args.processes} process(es) x {args.connections} connections; "
          f"{args.rounds} interleaved rounds (medians); each contender a process of its own, "
          "timed from its launch to its end" + ("; ours DKIM-signed" if args.dkim else ""))
    rates = figures["messages_per_s_by_contender"]
    assert isinstance(rates, dict)
    for key, label in (("ours", "ours (newsletter deliver)"),
                       ("naive", "naive (EmailMessage+smtplib)"),
                       ("raw_aiosmtplib", "raw aiosmtplib (prebuilt)"),
                       ("minimal_pipelined", "minimal pipelined (asyncio)"),
                       ("smtp_source", "smtp-source (Postfix, C)")):
        rate = rates.get(key)
        print(f"{label:<30} " + (f"{rate:10,.0f} messages/s" if rate is not None
                                 else "      (not installed)"))
    print(f"ours: {figures['seconds']} s for {args.messages:,} messages, "
          f"{figures['cpu_us_per_message']:,} µs CPU per message (start-up included); "
          f"`deliver` with nothing due, its start-up alone: {figures['ours_nothing_due_s']} s, "
          f"{figures['ours_nothing_due_cpu_s']} s CPU; so {figures['cpu_us_per_message_sending']:,}"
          " µs CPU per message sent")
    if figures["ratio_vs_rsa_limit"] is not None:
        print(f"RSA-2048: {figures['rsa_us_per_signature']} µs a signature, a limit of "
              f"{figures['rsa_limit_messages_per_s']:,} messages/s on {args.processes} "
              "process(es)")
    ratios = ", ".join(f"ours/{name} {figures[f'ratio_vs_{name}']}x"
                       for name in ("naive", "raw_aiosmtplib", "minimal_pipelined",
                                    "smtp_source", "rsa_limit")
                       if figures[f"ratio_vs_{name}"] is not None)
    print(ratios)
    print(json.dumps(figures))


def office(work: Path, host: str, port: int, *, dkim: bool) -> Instance:
    """A new instance that sends over SMTP to the sink, with the sample reports ingested."""
    from newsletter.app import init_instance, load_instance

    init_instance(work / "office")
    config = work / "office" / "newsletter.toml"
    config.write_text(config.read_text() + '\n[lists.bench]\ntitle = "Central Asia daily"\n'
                      'languages = ["en", "ru", "kk"]\n')
    environ = {"NEWSLETTER_WEB_SECRET": SECRET, "NEWSLETTER_DELIVERY_TRANSPORT": "smtp",
               "NEWSLETTER_SMTP_HOST": host, "NEWSLETTER_SMTP_PORT": str(port),
               "NEWSLETTER_SMTP_SECURITY": "none", "NEWSLETTER_MAIL_FROM_ADDRESS": SENDER,
               "NEWSLETTER_WEB_BASE_URL": "https://updates.example.org",
               "NEWSLETTER_DELIVERY_LEASE": "600"}
    if dkim:
        key = work / "dkim.pem"
        subprocess.run(["openssl", "genrsa", "-out", str(key), "2048"], check=True,
                       capture_output=True)
        environ["NEWSLETTER_DKIM_KEY_FILE"] = str(key)
    os.environ.update(environ)  # the other sending processes read the same settings
    instance = load_instance(config, cwd=work, environ=environ)
    for path in sorted((REPO / "seeds").glob("*.txt")):
        shutil.copy(path, instance.settings.seeds_dir)
        os.utime(instance.settings.seeds_dir / path.name, (time.time() - 3600,) * 2)
    return instance


# -- timing --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Timed:
    """One process's run: wall seconds from its launch to its end, CPU seconds (user and
    system, its own and its children's) and what it printed."""

    seconds: float
    cpu: float
    output: str


def timed(command: list[str], log: Path, **options: Any) -> Timed:
    """Run ``command`` and time it from its launch to its end; its standard error goes to
    ``log``. A process that fails ends the benchmark with the end of that log."""
    with log.open("wb") as errors, tempfile.TemporaryFile() as output:
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=output, stderr=errors, **options)
        try:
            _, status, usage = os.wait4(process.pid, 0)
        except BaseException:
            process.kill()
            process.wait()
            raise
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        output.seek(0)
        printed = output.read().decode(errors="replace")
    if process.returncode:
        raise SystemExit(f"`{' '.join(command)}` failed (exit code {process.returncode}):\n"
                         f"{log.read_text(errors='replace')[-3000:]}")
    return Timed(seconds, usage.ru_utime + usage.ru_stime, printed)


def contender(name: str, host: str, port: int, folder: Path, count: int, connections: int,
              log: Path) -> Timed:
    """One of :data:`CONTENDERS` in a process of its own, timed; it checks that the sink took
    every message."""
    done = timed([sys.executable, str(Path(__file__).resolve()), "--contender", name,
                  "--relay", f"{host}:{port}", "--input", str(folder), "--messages", str(count),
                  "--connections", str(connections)], log)
    sent = json.loads(done.output.splitlines()[-1])["sent"]
    if sent != count:
        raise SystemExit(f"{name}: the sink took {sent} messages of {count}")
    return done


def smtp_source_path() -> str | None:
    """Postfix's smtp-source, if installed (in /usr/sbin, often not on PATH)."""
    return (shutil.which(SMTP_SOURCE)
            or shutil.which(SMTP_SOURCE, path="/usr/sbin:/usr/local/sbin"))


# -- the run -------------------------------------------------------------------------------------


def run(work: Path, host: str, port: int, args: argparse.Namespace) -> dict[str, object]:
    from newsletter.issues.create import create_issue
    from newsletter.reports.ingest import ingest_inbox
    from newsletter.subscribers.addresses import SubscriberRow
    from newsletter.summarise.pending import summarise_pending

    instance = office(work, host, port, dkim=args.dkim)
    now = datetime.now(UTC)
    with instance.open_store() as store:
        ingest_inbox(store, instance.inbox, instance.settings.ingest, now=now)
        summarise_pending(store, instance.settings.summary, now=now)
        store.subscribers.import_rows(
            [SubscriberRow(f"reader{i}@example.org", f"Reader {i}", LANGUAGES[i % 3])
             for i in range(args.messages)], "bench", consent_source="bench", now=now)
        spec = instance.lists_of(store).named("bench")
        create_issue(store, instance.renderer(), spec, [r.id for r in store.reports.newest()],
                     "digest", base_url=instance.settings.web.base_url, domain="example.org",
                     now=now)
    size, source_file = prepare_contenders(instance, work)
    connections = args.connections * args.processes
    source = smtp_source_path()
    deliver = [sys.executable, "-m", "newsletter", "--config", str(instance.config_path),
               "deliver", "--json", "--processes", str(args.processes)]
    env = {**os.environ, "NEWSLETTER_DELIVERY_CONNECTIONS": str(args.connections),
           "PYTHONPATH": str(REPO)}
    rates: dict[str, list[float]] = {}
    cpu: dict[str, list[float]] = {}
    idle: list[Timed] = []

    def record(name: str, count: int, done: Timed) -> None:
        rates.setdefault(name, []).append(count / done.seconds)
        cpu.setdefault(name, []).append(1e6 * done.cpu / count)

    naive = min(args.naive, args.messages)
    for round_ in range(args.rounds):
        if round_:
            _requeue(instance)
        ours = timed(deliver, work / "deliver.log", env=env, cwd=instance.root)
        sent = json.loads(ours.output.splitlines()[-1])
        with instance.open_store() as store:
            states = store.outbox.counts()
        if states != {"sent": args.messages}:
            raise SystemExit(f"ours left the outbox at {states}: {sent}")
        record("ours", args.messages, ours)
        idle.append(timed(deliver, work / "idle.log", env=env, cwd=instance.root))
        record("naive", naive, contender("naive", host, port, work / "naive", naive, 1,
                                         work / "naive.log"))
        record("raw_aiosmtplib", args.messages,
               contender("raw", host, port, work / "raw", args.messages, connections,
                         work / "raw.log"))
        record("minimal_pipelined", args.messages,
               contender("minimal", host, port, work / "minimal", args.messages, connections,
                         work / "minimal.log"))
        if source is not None:
            record("smtp_source", args.messages, timed(
                [source, "-d", "-s", str(connections), "-m", str(args.messages),
                 "-F", str(source_file), "-f", SENDER, "-t", "reader@example.org", "-N",
                 f"{host}:{port}"], work / "smtp-source.log"))
        print(f"round {round_ + 1}: " + ", ".join(f"{name} {values[-1]:,.0f}/s"
                                                 for name, values in rates.items()),
              file=sys.stderr, flush=True)

    medians = {name: statistics.median(values) for name, values in rates.items()}
    ours_rate = medians["ours"]
    idle_cpu = statistics.median(t.cpu for t in idle)
    sending_cpu = statistics.median(c - 1e6 * idle_cpu / args.messages for c in cpu["ours"])
    signing = rsa_limit(work / "dkim.pem", args.processes) if args.dkim else {}

    def ratio(name: str) -> float | None:
        return round(ours_rate / medians[name], 2) if name in medians else None

    return {"bench": "send", "messages": args.messages, "naive": naive,
            "processes": args.processes, "connections": args.connections,
            "rounds": args.rounds, "dkim": args.dkim, "bytes_per_message": size,
            "timed": "each contender a process of its own, from its launch to its end",
            "seconds": round(args.messages / ours_rate, 2),
            "ours_nothing_due_s": round(statistics.median(t.seconds for t in idle), 3),
            "ours_nothing_due_cpu_s": round(statistics.median(t.cpu for t in idle), 3),
            "messages_per_s": round(ours_rate),
            "naive_messages_per_s": round(medians["naive"]),
            "raw_aiosmtplib_messages_per_s": round(medians["raw_aiosmtplib"]),
            "minimal_pipelined_messages_per_s": round(medians["minimal_pipelined"]),
            "smtp_source_messages_per_s": (round(medians["smtp_source"])
                                           if "smtp_source" in medians else None),
            "cpu_us_per_message": round(statistics.median(cpu["ours"])),
            # less the start-up (the same command with nothing due): what one more costs
            "cpu_us_per_message_sending": round(sending_cpu),
            **signing,
            "ratio_vs_rsa_limit": (round(ours_rate / signing["rsa_limit_messages_per_s"], 2)
                                   if signing else None),
            "cpu_us_per_message_by_contender": {name: round(statistics.median(values))
                                                for name, values in cpu.items()},
            "messages_per_s_by_contender": {name: round(value)
                                            for name, value in medians.items()},
            "messages_per_s_by_round": {name: [round(v) for v in values]
                                        for name, values in rates.items()},
            "ratio_vs_naive": ratio("naive"),
            "ratio_vs_raw_aiosmtplib": ratio("raw_aiosmtplib"),
            "ratio_vs_minimal_pipelined": ratio("minimal_pipelined"),
            "ratio_vs_smtp_source": ratio("smtp_source")}


def rsa_limit(key_file: Path, processes: int, signatures: int = 300) -> dict[str, float]:
    """With DKIM, RSA is the floor: µs for one RSA-2048 PKCS#1 v1.5 SHA-256 signature with
    the office's key (OpenSSL, through ``cryptography``), and the messages/s that allows on
    ``processes`` processes, each on a core of its own (at most the machine's cores)."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    started = time.process_time()
    for i in range(signatures):
        key.sign(b"header fields %d" % i, padding.PKCS1v15(), hashes.SHA256())
    each = (time.process_time() - started) / signatures
    cores = min(processes, os.cpu_count() or 1)
    return {"rsa_us_per_signature": round(each * 1e6),
            "rsa_limit_messages_per_s": round(cores / each)}


def _requeue(instance: Instance) -> None:
    """Every message of the outbox due again, as before the first round (not timed)."""
    with instance.open_store() as store:
        store.db.execute("""UPDATE outbox SET state = 'pending', lease_owner = NULL,
                              lease_until = NULL, sent_at = NULL, attempts = 0,
                              last_code = NULL, last_text = NULL, next_attempt_at = NULL""")


def prepare_contenders(instance: Instance, work: Path) -> tuple[int, Path]:
    """The contenders' inputs, made before anything is timed: the bytes of every message ours
    will send (raw aiosmtplib), the digest's text and HTML (naive), its message in each
    language with the per-reader parts left open (minimal) and one whole message
    (smtp-source). Returns the mean message size and smtp-source's file."""
    from newsletter.delivery.rules import OutboxRow

    with instance.open_store() as store:
        source = instance.issue_messages(store)
        rows = [OutboxRow(int(r[0]), int(r[1]), int(r[2]), str(r[3]), r[4], str(r[5]),
                          str(r[6]), 0, str(r[7]), r[8])
                for r in store.db.all("""SELECT id, issue_id, subscriber_id, address, name,
                                                language, message_id, format, wanted
                                         FROM outbox ORDER BY id""")]
        (work / "raw").mkdir()
        lengths: list[tuple[str, int]] = []
        with (work / "raw" / "messages.bin").open("wb") as out:
            for row in rows:
                message = source.message(row)
                out.write(message)
                lengths.append((row.address, len(message)))
        (work / "raw" / "index.json").write_text(json.dumps(lengths))
        size = sum(n for _, n in lengths) // len(lengths)
        first = source.message(rows[0])
        write_naive_input(work / "naive", first)
        (work / "minimal").mkdir()
        made: dict[str, object] = {"secret": SECRET, "languages": list(LANGUAGES)}
        for language in LANGUAGES:
            row = next(r for r in rows if r.language == language)
            template, list_name, issued = source.template(row.issue_id, language)
            holes = _holes(source, row, list_name, issued)
            message = source.message(row)
            (work / "minimal" / f"{language}.eml").write_bytes(
                _open_template(message, holes, language))
            made.update(list=list_name, issued=issued.toordinal())
        (work / "minimal" / "settings.json").write_text(json.dumps(made))
        nearest = min(range(len(rows)), key=lambda i: abs(lengths[i][1] - size))
        as_file = work / "smtp-source.eml"  # smtp-source ends each line with CRLF itself
        as_file.write_bytes(source.message(rows[nearest]).replace(b"\r\n", b"\n"))
    return size, as_file


def write_naive_input(folder: Path, message: bytes) -> None:
    """The naive contender's input: the text and HTML bodies of ``message``."""
    from newsletter.mail.compose import body_parts

    folder.mkdir(parents=True, exist_ok=True)
    text, html = body_parts(message)
    (folder / "text.txt").write_text(text, encoding="utf-8")
    (folder / "html.html").write_text(html, encoding="utf-8")


def _holes(source: IssueMessages, row: OutboxRow, list_name: str,
           issued: date) -> dict[str, str]:
    """What is per reader in ``row``'s message: the values ours filled in."""
    links = source.builder.links
    unsubscribe, _ = links.unsubscribe(row.subscriber_id, list_name, issued)
    return {"unsubscribe": unsubscribe.rsplit("/", 1)[1],
            "manage": links.manage(row.subscriber_id, issued).rsplit("/", 1)[1],
            "message_id": row.message_id, "address": row.address, "name": row.name or ""}


def _open_template(message: bytes, holes: dict[str, str], language: str) -> bytes:
    """``message`` with each per-reader value replaced by its hole's name between NUL bytes;
    checked: filled in again, it is ``message``."""
    opened = message
    for hole in HOLES:  # the tokens first: the other values cannot be inside them
        value = holes[hole].encode("utf-8")
        if not value or value not in opened:
            raise SystemExit(f"the {language} message has no {hole} {value!r} to open")
        opened = opened.replace(value, b"\0" + hole.encode() + b"\0")
    parts = opened.split(b"\0")
    refilled = b"".join(part if k % 2 == 0 else holes[part.decode()].encode("utf-8")
                        for k, part in enumerate(parts))
    if refilled != message:
        raise SystemExit(f"the {language} template does not give the message back")
    return opened


# -- the contenders, each run in a process of its own --------------------------------------------


def _naive(host: str, port: int, folder: Path, count: int, connections: int) -> int:
    """A fresh EmailMessage per message, built from the same text and HTML, over a new smtplib
    connection each."""
    import smtplib
    from email.message import EmailMessage

    text = (folder / "text.txt").read_text(encoding="utf-8")
    html = (folder / "html.html").read_text(encoding="utf-8")
    for index in range(count):
        message = EmailMessage()
        message["From"] = f"Humanitarian updates <{SENDER}>"
        message["To"] = f"reader{index}@example.org"
        message["Subject"] = "Central Asia daily"
        message["Message-ID"] = f"<naive.{index}@example.org>"
        message.set_content(text)
        message.add_alternative(html, subtype="html")
        with smtplib.SMTP(host, port) as client:
            client.send_message(message)
    return count


def _raw_aiosmtplib(host: str, port: int, folder: Path, count: int, connections: int) -> int:
    """Ours' bytes, read from the file, through ``aiosmtplib.SMTP.sendmail``."""
    import asyncio

    import aiosmtplib

    index = json.loads((folder / "index.json").read_text())[:count]
    data = (folder / "messages.bin").read_bytes()
    messages: list[tuple[str, bytes]] = []
    offset = 0
    for address, length in index:
        messages.append((address, data[offset:offset + length]))
        offset += length

    async def one(share: list[tuple[str, bytes]]) -> int:
        client = aiosmtplib.SMTP(hostname=host, port=port, start_tls=False)
        await client.connect()
        for address, message in share:
            await client.sendmail(SENDER, [address], message)
        await client.quit()
        return len(share)

    async def every() -> int:
        return sum(await asyncio.gather(*(one(messages[i::connections])
                                          for i in range(connections))))

    return asyncio.run(every())


def _minimal(host: str, port: int, folder: Path, count: int, connections: int) -> int:
    """The minimal pipelined sender (see the module docstring)."""
    import asyncio
    import base64
    import hashlib
    import hmac

    settings = json.loads((folder / "settings.json").read_text())
    secret = settings["secret"].encode()
    kid = hashlib.sha256(secret).hexdigest()[:8].encode()
    list_name, issued = settings["list"], settings["issued"]
    templates = []
    for language in settings["languages"]:
        opened = (folder / f"{language}.eml").read_bytes()
        stuffed = opened.replace(b"\r\n.", b"\r\n..")  # RFC 5321 4.5.2, once
        if stuffed.startswith(b"."):
            stuffed = b"." + stuffed
        templates.append(stuffed.split(b"\0"))

    def b64(data: bytes) -> bytes:
        return base64.urlsafe_b64encode(data).rstrip(b"=")

    def token(payload: str) -> bytes:
        signed = payload.encode()
        mac = hmac.new(secret, kid + b"." + signed, hashlib.sha256).digest()[:18]
        return b64(signed) + b"." + kid + b"." + b64(mac)

    def message(i: int) -> tuple[bytes, bytes]:
        address = f"reader{i}@example.org".encode()
        values = {b"address": address, b"name": f"Reader {i}".encode(),
                  b"message_id": f"m{i}.bench@example.org".encode(),
                  b"unsubscribe": token(f"u:{i + 1}:{list_name}:{issued}"),
                  b"manage": token(f"m:{i + 1}::{issued}")}
        parts = templates[i % len(templates)]
        return address, b"".join(part if k % 2 == 0 else values[part]
                                 for k, part in enumerate(parts)) + b".\r\n"

    async def reply(reader: asyncio.StreamReader) -> tuple[int, bytes]:
        lines = []
        while True:
            line = await reader.readline()
            if not line:
                raise ConnectionError("the sink closed the connection")
            lines.append(line)
            if line[3:4] != b"-":
                return int(line[:3]), b"".join(lines)

    async def session(indices: range) -> int:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            code, greeting = await reply(reader)
            if code != 220:
                raise ConnectionError(f"the sink greeted with {greeting!r}")
            writer.write(b"EHLO bench.example.org\r\n")
            code, offered = await reply(reader)
            if code != 250:
                raise ConnectionError(f"the sink answered {offered!r} to EHLO")
            extensions = {line[4:].strip().upper() for line in offered.splitlines()}
            pipelining = b"PIPELINING" in extensions
            body = b" BODY=8BITMIME" if b"8BITMIME" in extensions else b""
            for i in indices:
                address, content = message(i)
                commands = [b"MAIL FROM:<" + SENDER.encode() + b">" + body + b"\r\n",
                            b"RCPT TO:<" + address + b">\r\n", b"DATA\r\n"]
                if pipelining:
                    writer.write(b"".join(commands))
                    codes = [(await reply(reader))[0] for _ in commands]
                else:
                    codes = []
                    for command in commands:
                        writer.write(command)
                        codes.append((await reply(reader))[0])
                if codes != [250, 250, 354]:
                    raise ConnectionError(f"the sink answered {codes} for reader {i}")
                writer.write(content)
                code, text = await reply(reader)
                if code != 250:
                    raise ConnectionError(f"the sink answered {text!r} to reader {i}'s data")
            writer.write(b"QUIT\r\n")
            await reply(reader)
        finally:
            writer.close()
            await writer.wait_closed()
        return len(indices)

    async def every() -> int:
        return sum(await asyncio.gather(*(session(range(i, count, connections))
                                          for i in range(connections))))

    return asyncio.run(every())


CONTEND = {"naive": _naive, "raw": _raw_aiosmtplib, "minimal": _minimal}


if __name__ == "__main__":
    main()
