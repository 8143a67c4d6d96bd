"""The composition root: an instance's settings, and the adapters and use cases built from
them (I/O). Only the driving edges (``cli``, ``web``) import it; what it builds takes its
parts as parameters. Each part is imported where it is built, so a command loads only what it
uses (`newsletter reports list` no translation engine, web app or SMTP client)."""

from __future__ import annotations

import functools
import importlib.resources
import logging
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from newsletter.config import (
    CONFIG_NAME,
    Settings,
    find_config,
    load_settings,
)
from newsletter.errors import ConfigError, GlossaryFormatError
from newsletter.example_config import example_config
from newsletter.languages import LANGUAGES
from newsletter.store import Store, open_store

if TYPE_CHECKING:
    from newsletter.bounces.read import BounceReader, ReadRun
    from newsletter.bounces.rules import BounceRules
    from newsletter.bounces.sources import Source
    from newsletter.bounces.verp import ReturnPath
    from newsletter.delivery.files import FileTransport
    from newsletter.delivery.relays import RelaySpec
    from newsletter.delivery.sender import Sender, SendOptions
    from newsletter.delivery.session import Relay
    from newsletter.delivery.smtp import SmtpOptions
    from newsletter.delivery.transport import Transport
    from newsletter.feeds.publish import Publisher
    from newsletter.issues.messages import IssueMessages
    from newsletter.lists.registry import ListRegistry, Lists
    from newsletter.mail.compose import MailSettings
    from newsletter.mail.dkim import DkimSigner
    from newsletter.mail.links import Links
    from newsletter.mail.messages import MessageBuilder
    from newsletter.mail.render import Renderer
    from newsletter.reports.ingest import Inbox
    from newsletter.reports.places import Gazetteer
    from newsletter.service.scheduler import SchedulerLease
    from newsletter.service.steps import Service
    from newsletter.service.workers import Heartbeat, TranslationThread
    from newsletter.subscribers.links import Links as ReaderLinks
    from newsletter.subscribers.pending import UnsubscribeJournal
    from newsletter.subscribers.privacy import Forgotten
    from newsletter.translate.core import Glossary
    from newsletter.translate.engine import ArgosEngine

log = logging.getLogger(__name__)


def builtin_folder(name: str) -> Path:
    """The templates/ or translations/ newsletter comes with, which an instance's own files
    override: inside the installed package (a wheel puts them there, see pyproject.toml), or,
    run from a checkout (an editable install), at the top of the repository."""
    packaged = Path(str(importlib.resources.files("newsletter"))) / name
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent / name


BUILTIN_TEMPLATES = builtin_folder("templates")
BUILTIN_TRANSLATIONS = builtin_folder("translations")


@dataclass(frozen=True)
class Instance:
    """One newsletter instance: a folder with ``newsletter.toml``, and its settings."""

    config_path: Path
    settings: Settings

    @property
    def root(self) -> Path:
        return self.settings.root

    def open_store(self, *, busy_seconds: float | None = None) -> Store:
        """The instance's database; a SQLite writer waits ``busy_seconds`` (default
        ``[database] busy_seconds``) for another process's write before it says so."""
        database = self.settings.database
        return open_store(self.settings.database_target, pool_size=database.pool_size,
                          busy_seconds=database.busy_seconds if busy_seconds is None
                          else busy_seconds)

    @property
    def inbox(self) -> Inbox:
        from newsletter.reports.ingest import Inbox
        return Inbox(folder=self.settings.seeds_dir, quarantine=self.settings.quarantine_dir,
                     places=self.gazetteer)

    @functools.cached_property
    def gazetteer(self) -> Gazetteer:
        """The shipped gazetteer, with the office's own places when it has a file of them."""
        from newsletter.reports.places import load_gazetteer

        path = self.settings.resolve(self.settings.ingest.places)
        try:
            return load_gazetteer(path.read_text(encoding="utf-8-sig") if path.is_file()
                                  else None)
        except ValueError as exc:
            raise ConfigError(
                f"the places file {path} is malformed: {exc}",
                hint="its columns are code, alpha3, parent, en, ru, kk (names separated by |)",
            ) from exc

    def engine(self) -> ArgosEngine:
        from newsletter.translate.engine import ArgosEngine
        options = self.settings.translate
        return ArgosEngine(
            self.settings.packages_dir, argos_home=self.settings.argos_home,
            threads=options.threads, parallel=options.parallel, beam_size=options.beam_size,
        )

    def renderer(self) -> Renderer:
        """The templates and catalogs: the instance's own files first (to adapt one, copy it
        from newsletter's templates/ into the instance's), then newsletter's."""
        from newsletter.mail.render import Renderer, load_translations

        paths = self.settings.paths
        own_templates = self.settings.resolve(paths.templates)
        own_catalogs = self.settings.resolve(paths.translations)
        templates = [f for f in dict.fromkeys([own_templates, BUILTIN_TEMPLATES]) if f.is_dir()]
        if not any((folder / "base.html").is_file() for folder in templates):
            raise ConfigError(
                f"no email templates in {own_templates} or {BUILTIN_TEMPLATES}",
                hint="set [paths] templates to a folder holding base.html, alert.html, …",
            )
        catalogs = list(dict.fromkeys([own_catalogs, BUILTIN_TRANSLATIONS]))
        return Renderer(templates, load_translations(catalogs), self.glossary())

    def mail_settings(self, list_name: str, list_title: str | None = None) -> MailSettings:
        from newsletter.mail.compose import MailSettings
        mail = self.settings.mail
        domain = mail.domain
        return MailSettings(from_name=mail.from_name, from_address=mail.from_address,
                            list_id=f"{list_name}.{domain}",
                            list_name=list_title or mail.list_title)

    def links(self, *, signed: bool = True) -> Links:
        """Where links point; ``signed`` needs the signing key (an error when none is set)."""
        from newsletter.mail.links import Links

        settings = self.settings
        return Links(settings.web.base_url, settings.mail.unsubscribe_address,
                     settings.mail.domain,
                     self.signing_secrets()[0] if signed else "")

    def message_builder(self, store: Store | None = None, *, signed: bool = True,
                        mail: Callable[[str], MailSettings] | None = None) -> MessageBuilder:
        """The one message builder; ``mail`` gives each list's From and List-Id (by default
        the list's title from ``store``)."""
        from newsletter.mail.messages import MessageBuilder

        if mail is None:
            assert store is not None
            mail = functools.partial(self.list_mail_settings, store)
        return MessageBuilder(mail, self.links(signed=signed),
                              self.dkim_signer() if signed else None)

    @functools.cached_property
    def list_registry(self) -> ListRegistry:
        """Where the instance's lists are found: newsletter.toml and the database."""
        from newsletter.lists.registry import ListRegistry

        return ListRegistry(self.config_path, self.settings.lists, self.gazetteer)

    def lists_of(self, store: Store) -> Lists:
        """The lists as ``store`` sees them (look one up with :meth:`Lists.named`)."""
        return self.list_registry.of(store)

    def unsubscribe_journal(self) -> UnsubscribeJournal:
        """Where an unsubscribe waits when the database cannot take it: beside the SQLite
        file, or in the instance's var/ for PostgreSQL."""
        from newsletter.subscribers.pending import UnsubscribeJournal

        target = self.settings.database_target
        if isinstance(target, Path):
            return UnsubscribeJournal(target.with_name(target.name + ".unsubscribes"))
        return UnsubscribeJournal(self.settings.resolve("var/unsubscribes.pending"))

    def reader_links(self) -> ReaderLinks:
        """What following a reader's signed link needs (:mod:`newsletter.subscribers.links`):
        the database with a short wait for locks, so a reader never waits behind another
        process, the journal, and the signing keys."""
        from newsletter.subscribers.links import Links as ReaderLinks

        return ReaderLinks(open_store=functools.partial(self.open_store, busy_seconds=2.0),
                           secrets=self.signing_secrets() if self.settings.web.secret else [],
                           lists=self.list_registry.all, journal=self.unsubscribe_journal())

    def signing_secrets(self) -> list[str]:
        """The current signing key first, then retired ones; an error if none is set."""
        web = self.settings.web
        if not web.secret:
            raise ConfigError(
                "no signing key for unsubscribe links",
                hint="set NEWSLETTER_WEB_SECRET in the environment, e.g. to the output of "
                     "`python3 -c 'import secrets; print(secrets.token_urlsafe(32))'`",
            )
        return [web.secret, *web.old_secrets]

    def transport(self) -> Transport:
        """The transport of [delivery] transport, for one-off messages (test sends,
        invitations); over SMTP only when :meth:`sending_relay` allows it."""
        from newsletter.delivery.smtp import SmtpTransport

        settings = self.settings
        if settings.delivery.transport == "file":
            return self.file_transport()
        return SmtpTransport(self.sending_relay())

    def file_transport(self) -> FileTransport:
        from newsletter.delivery.files import FileTransport
        delivery = self.settings.delivery
        return FileTransport(self.settings.resolve(delivery.folder), delivery.file_format,
                             return_path=bool(self.settings.bounces.return_path.strip()))

    def relay(self, name: str | None) -> RelaySpec:
        """The relay ``[relays.NAME]`` (what it leaves out is [smtp]'s); None: [smtp]."""
        from newsletter.delivery.relays import RelaySpec

        if name is None:
            return RelaySpec("smtp")
        found = {relay.name: relay for relay in self.settings.relays}
        if name not in found:
            known = ", ".join(sorted(found)) or "none"
            raise ConfigError(f"no relay called {name!r}",
                              hint=f"relays: {known}; declare one as [relays.{name}] in "
                                   "newsletter.toml")
        return found[name]

    def sending_relay(self, relay: str | None = None) -> SmtpOptions:
        """The relay (``[relays.NAME]``, else [smtp]) that real mail goes through: the one
        place that decides whether this instance may send over SMTP at all. Both ways out
        (:meth:`transport` for one-off messages, :meth:`sender` for the outbox) come here, and
        every command builds them before it queues, stores or marks anything.

        Mail over SMTP reaches readers, so its links (``List-Unsubscribe``, the unsubscribe,
        confirmation and archive links) must be https (RFC 8058 asks it of the one-click link)
        on a host other than this machine: with [web] base_url left at its default,
        ``http://127.0.0.1:8025``, every link would be dead. ``[web] allow_insecure_links``
        lets a test relay receive such mail; the file transport (demo, previews, air-gapped
        offices) is not concerned."""
        self.check_links()
        return self.smtp_options(relay)

    def check_links(self) -> None:
        """Refuse links readers cannot follow in mail that goes out over SMTP (see
        :meth:`sending_relay`). Commands that only queue mail for delivery workers
        (`scheduler`, ``--queue-only``) ask this too: the links are fixed when mail is
        queued."""
        from newsletter.mail.links import unreachable_reasons

        web = self.settings.web
        reasons = unreachable_reasons(web.base_url)
        if reasons and not web.allow_insecure_links:
            raise ConfigError(
                f"refusing to send mail over SMTP whose links point to {web.base_url}: "
                + "; ".join(reasons),
                setting="web.base_url",
                hint="set [web] base_url (NEWSLETTER_WEB_BASE_URL) to the public https address "
                     "of the web app, e.g. https://updates.example.org; or, for a test relay "
                     "only, set [web] allow_insecure_links = true "
                     "(NEWSLETTER_WEB_ALLOW_INSECURE_LINKS=true)")

    def queueing_for_smtp(self) -> None:
        """What a command that queues mail and leaves the sending to others checks first."""
        if self.settings.delivery.transport == "smtp":
            self.check_links()

    def smtp_options(self, relay: str | None = None) -> SmtpOptions:
        """The options of a relay, as configured (to name it; :meth:`sending_relay` to send)."""
        from newsletter.delivery.smtp import SmtpOptions

        smtp, named = self.settings.smtp, self.relay(relay)
        ca_file = named.ca_file if named.ca_file is not None else smtp.ca_file
        return SmtpOptions(
            named.host or smtp.host, named.port or smtp.port, named.security or smtp.security,
            named.username if named.username is not None else smtp.username,
            named.password if named.password is not None else smtp.password,
            named.timeout or smtp.timeout,
            str(self.settings.resolve(ca_file)) if ca_file else "")

    def dkim_signer(self) -> DkimSigner | None:
        """The DKIM signer of [dkim], or None when signing is off."""
        from newsletter.mail.dkim import DkimSigner

        dkim = self.settings.dkim
        if not dkim.key_file:
            return None
        path = self.settings.resolve(dkim.key_file)
        try:
            key = path.read_bytes()
        except OSError as exc:
            raise ConfigError(f"cannot read the DKIM key {path}: {exc.strerror}",
                              hint="set [dkim] key_file to a PEM private key") from exc
        domain = dkim.domain or self.settings.mail.domain
        try:
            return DkimSigner(dkim.selector, domain, key)
        except ValueError as exc:
            raise ConfigError(
                f"cannot DKIM-sign with the key {path} as "
                f"{dkim.selector}._domainkey.{domain}: {exc}",
                hint="[dkim] key_file must be a PEM RSA private key of 1024 bits or more "
                     "(2048 is usual) with no passphrase, e.g. from `openssl genrsa -out "
                     "dkim.pem 2048`; [dkim] selector and domain must be DNS names") from exc

    # -- the use cases, built from the settings ------------------------------------------

    def service(self, store: Store, *, clock: Callable[[], datetime],
                looking: bool = False) -> Service:
        """The service's steps; ``looking`` for previews and dry runs, which write nothing."""
        from newsletter.service.steps import Service

        return Service(store, self.settings, inbox=self.inbox, lists=self.lists_of(store),
                       engine=self.engine, renderer=self.renderer, glossary=self.glossary,
                       clock=clock, looking=looking,
                       journal=None if looking else self.unsubscribe_journal(),
                       forgotten=self.forgotten())

    def issue_messages(self, store: Store) -> IssueMessages:
        """The bytes of each outbox row: its issue's template, filled in per recipient."""
        from newsletter.issues.messages import IssueMessages

        return IssueMessages(store, self.message_builder(store))

    def list_mail_settings(self, store: Store, name: str) -> MailSettings:
        lists = self.lists_of(store).all()
        return self.mail_settings(name, lists[name].title if name in lists else name)

    def send_options(self, relay: str | None = None) -> SendOptions:
        from newsletter.delivery.rules import RetryPolicy
        from newsletter.delivery.sender import SendOptions
        settings = self.settings
        delivery, named = settings.delivery, self.relay(relay)
        return SendOptions(
            sender=self.envelope_sender(),
            connections=named.connections or delivery.connections,
            rate=named.rate if named.rate is not None else delivery.rate, lease=delivery.lease,
            bounces=self.bounce_rules(), return_path=self.return_path(),
            breaker_failures=delivery.breaker_failures,
            policy=RetryPolicy(max_attempts=delivery.max_attempts,
                               base=timedelta(seconds=delivery.retry_base_seconds),
                               cap=timedelta(seconds=delivery.retry_cap_seconds)))

    def forgotten(self) -> Forgotten | None:
        """How erased readers are recognised (digests under the signing keys), or None when
        no key is set."""
        from newsletter.subscribers.privacy import Forgotten

        web = self.settings.web
        return Forgotten([web.secret, *web.old_secrets]) if web.secret else None

    def envelope_sender(self) -> str:
        """The envelope sender of a one-off message (a test send, an invitation): the return
        path when there is one (what comes back for it matches no outbox row and is listed
        as unmatched), else ``[mail] from_address``."""
        path = self.return_path()
        return path.plain if path is not None else self.settings.mail.from_address

    def bounce_rules(self) -> BounceRules:
        from newsletter.bounces.rules import BounceRules

        bounces = self.settings.bounces
        return BounceRules(threshold=self.settings.delivery.bounce_threshold,
                           temporary_weight=bounces.temporary_weight,
                           half_life_days=bounces.half_life_days,
                           suppress_days=bounces.suppress_days,
                           complaint_all=bounces.complaint == "all")

    def return_path(self) -> ReturnPath | None:
        """The per-message return path of ``[bounces] return_path`` (signed with the web
        secret), or None when mail goes out from ``[mail] from_address``."""
        from newsletter.bounces.verp import ReturnPath

        address = self.settings.bounces.return_path.strip()
        if not address:
            return None
        local, at, domain = address.rpartition("@")
        if not at or not local or not domain or "+" in local:
            raise ConfigError(f"[bounces] return_path {address!r} is not an address",
                              hint="give an address without a +, e.g. "
                                   "bounces@news.example.org")
        return ReturnPath(address, self.signing_secrets())

    def bounce_reader(self, store: Store) -> BounceReader:
        """Reading what came back into ``store``, with the office's return path and rules."""
        from newsletter.bounces.read import BounceReader

        return BounceReader(store, self.return_path(), self.bounce_rules(),
                            clock=store.clock(),
                            max_messages=self.settings.bounces.max_messages)

    def publisher(self, store: Store, renderer: Renderer | None = None) -> Publisher:
        """The feeds and CAP alerts of the office's lists (``serve`` and ``feeds write``)."""
        from newsletter.feeds.publish import Publisher, Where

        settings = self.settings
        words = (renderer or self.renderer()).gettext
        where = Where(settings.web.base_url, settings.cap.sender or settings.mail.from_address,
                      settings.mail.domain, settings.cap)
        return Publisher(store, self.lists_of(store).all(), where, gazetteer=self.gazetteer,
                         words=words)

    def bounce_reading(self) -> Callable[[Callable[[], bool]], ReadRun] | None:
        """Reading ``[bounces] source`` once with a store of its own (the service does it in a
        thread), or None when no source is set."""
        if self.settings.bounces.source == "none":
            return None

        def read(stop: Callable[[], bool]) -> ReadRun:
            with self.open_store() as store:
                return self.bounce_reader(store).read(self.bounce_source(), stop=stop)
        return read

    def bounce_source(self, kind: str | None = None, path: Path | None = None) -> Source:
        """Where returned mail is read: ``kind`` (maildir, mbox, imap, pop3) or, by default,
        ``[bounces] source``; ``path`` a Maildir or mbox instead of ``[bounces] path``."""
        from newsletter.bounces.sources import (
            ImapSource,
            MaildirSource,
            MboxSource,
            Pop3Source,
            Server,
        )

        bounces = self.settings.bounces
        kind = kind or bounces.source
        limit = bounces.max_bytes
        if kind in ("maildir", "mbox"):
            where = path or (self.settings.resolve(bounces.path) if bounces.path else None)
            if where is None:
                raise ConfigError(f"no {kind} to read returned mail from",
                                  hint=f"give --{kind} PATH, or set [bounces] path")
            return MaildirSource(where, limit) if kind == "maildir" else MboxSource(where, limit)
        if kind in ("imap", "pop3"):
            if not bounces.username or not bounces.password:
                raise ConfigError(
                    f"no {kind.upper()} login for returned mail",
                    hint="set [bounces] host, username and security in newsletter.toml and "
                         "NEWSLETTER_BOUNCES_PASSWORD in the environment")
            server = Server(bounces.host, bounces.port, bounces.security, bounces.username,
                            bounces.password,
                            str(self.settings.resolve(bounces.ca_file)) if bounces.ca_file
                            else "", bounces.timeout)
            if kind == "imap":
                return ImapSource(server, bounces.folder, bounces.done_folder, limit)
            return Pop3Source(server, limit)
        raise ConfigError("no source of returned mail is set",
                          hint="set [bounces] source (maildir, mbox, imap or pop3), or give "
                               "--maildir, --mbox, --imap or --pop3")

    def sender(self, store: Store, *, owner: str, clock: Callable[[], datetime],
               relay: str | None = None) -> Sender:
        """This process's sending: one sweep at a time, one rate limit for the relay
        (``[relays.NAME]``, else [smtp]), when :meth:`sending_relay` allows it; or the file
        transport."""
        from newsletter.delivery.sender import Sender
        from newsletter.delivery.session import FileRelay, SmtpRelay

        settings = self.settings
        way: Relay = (FileRelay(self.file_transport())
                      if settings.delivery.transport == "file" else
                      SmtpRelay(self.sending_relay(relay), self.send_options(relay).connections))
        return Sender(store, self.issue_messages(store), self.send_options(relay), relay=way,
                      owner=owner, clock=clock,
                      first_backoff=settings.schedule.deliver_seconds / 2)

    def scheduler_lease(self, store: Store, owner: str,
                        clock: Callable[[], datetime]) -> SchedulerLease:
        from newsletter.service.scheduler import SchedulerLease
        return SchedulerLease(store, owner, self.settings.schedule.lease_seconds, clock)

    def translation_thread(self, owner: str) -> TranslationThread:
        """``run``'s translation, in a thread with its own connection and engine."""
        from newsletter.service.workers import TranslationThread

        def open_service() -> Service:
            store = self.open_store()
            return self.service(store, clock=store.clock())

        return TranslationThread(open_service, owner,
                                 poll=self.settings.schedule.poll_seconds)

    def heartbeat(self, store: Store, worker_id: str, role: str,
                  clock: Callable[[], datetime], detail: str = "") -> Heartbeat:
        from newsletter.service.workers import Heartbeat
        return Heartbeat(store, worker_id, role, clock=clock, detail=lambda: detail)

    def glossary(self) -> Glossary:
        """The instance's glossary; an absent file is an empty glossary (and a warning)."""
        from newsletter.translate.core import Glossary, parse_glossary

        path = self.settings.resolve(self.settings.translate.glossary)
        if not path.is_file():
            log.warning("no glossary at %s: names and terms are left to the model", path)
            return Glossary()
        try:
            return parse_glossary(path.read_text(encoding="utf-8-sig"),
                                  LANGUAGES)
        except GlossaryFormatError as exc:
            raise ConfigError(
                f"the glossary {path} is malformed: {exc}",
                hint="its first row must name the columns en, ru, kk",
            ) from exc


def load_instance(
    config: Path | None,
    *,
    cwd: Path,
    environ: Mapping[str, str],
    overrides: Mapping[str, Any] | None = None,
) -> Instance:
    """The instance named by ``config`` (a file or a folder), else the one around ``cwd``."""
    from newsletter.lists.registry import check_lists

    if config is None and environ.get("NEWSLETTER_CONFIG"):
        config = Path(environ["NEWSLETTER_CONFIG"])
    if config is None:
        path = find_config(cwd)
    else:
        path = config / CONFIG_NAME if config.is_dir() else config
        if not path.is_file():
            raise ConfigError(
                f"no configuration file at {path}",
                hint="pass the path of a newsletter.toml, or run `newsletter init DIR`",
            )
    settings = load_settings(path, environ=environ, overrides=overrides)
    instance = Instance(path.resolve(), settings)
    check_lists(settings.lists, instance.gazetteer, path)
    return instance


def init_instance(folder: Path) -> Path:
    """Create a new instance in ``folder``: a commented ``newsletter.toml`` and an inbox."""
    config = folder / CONFIG_NAME
    if config.exists():
        raise ConfigError(
            f"{config} already exists",
            hint="this folder is an instance already; edit that file, or choose another folder",
        )
    folder.mkdir(parents=True, exist_ok=True)
    config.write_text(example_config(), encoding="utf-8")
    (folder / "seeds").mkdir(exist_ok=True)
    # Templates and catalogs come with newsletter (copy one into the instance to adapt it);
    # the glossary is the instance's own: a copy of the shipped UN and place names, to extend.
    glossary = folder / "translations" / "glossary.csv"
    glossary.parent.mkdir(exist_ok=True)
    if not glossary.exists():
        shutil.copyfile(BUILTIN_TRANSLATIONS / "glossary.csv", glossary)
    return config
