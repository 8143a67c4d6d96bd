"""The schema, as the ordered migrations that make it (SQL both SQLite and PostgreSQL take;
``{id}`` is each dialect's integer key). :mod:`newsletter.store.migrations` applies them."""

from __future__ import annotations

from newsletter.store.migration import Migration
from newsletter.store.tally import OUTBOX_TALLY

MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        "0001_reports",
        """
        CREATE TABLE reports (
            id            {id},
            identity_key  TEXT NOT NULL,
            content_hash  TEXT NOT NULL,
            revision      INTEGER NOT NULL DEFAULT 1,
            title         TEXT NOT NULL,
            source        TEXT,
            kind          TEXT,
            published     TEXT,
            posted        TEXT,
            language      TEXT NOT NULL,
            dateline      TEXT,
            body          TEXT NOT NULL,
            path          TEXT NOT NULL,
            encoding      TEXT NOT NULL,
            ingested_at   TEXT NOT NULL,
            updated_at    TEXT NOT NULL
        );
        CREATE INDEX reports_identity ON reports(identity_key);
        CREATE INDEX reports_published ON reports(published);

        -- Every content hash a report has had, so an old version seen again is a duplicate.
        CREATE TABLE report_revisions (
            report_id     INTEGER NOT NULL REFERENCES reports(id) ON DELETE CASCADE,
            revision      INTEGER NOT NULL,
            content_hash  TEXT NOT NULL UNIQUE,
            path          TEXT NOT NULL,
            ingested_at   TEXT NOT NULL,
            PRIMARY KEY (report_id, revision)
        );

        -- Files seen in the inbox, so unchanged files are not read again.
        CREATE TABLE inbox_files (
            path          TEXT PRIMARY KEY,
            size          BIGINT NOT NULL,
            mtime_ns      BIGINT NOT NULL,
            status        TEXT NOT NULL,
            report_id     INTEGER REFERENCES reports(id) ON DELETE SET NULL,
            seen_at       TEXT NOT NULL
        );

        CREATE TABLE quarantine (
            id            {id},
            original_path TEXT NOT NULL,
            stored_path   TEXT NOT NULL,
            reason        TEXT NOT NULL,
            detail        TEXT NOT NULL,
            at            TEXT NOT NULL
        );
        """,
    ),
    Migration(
        "0002_summaries",
        """
        -- The current summary of each report; recomputed when the report gets a new revision,
        -- the summariser's method changes or the instance's summary length changes.
        CREATE TABLE summaries (
            report_id     INTEGER PRIMARY KEY REFERENCES reports(id) ON DELETE CASCADE,
            revision      INTEGER NOT NULL,
            method        TEXT NOT NULL,
            max_sentences INTEGER NOT NULL,
            max_words     INTEGER NOT NULL,
            sentences     TEXT NOT NULL,
            created_at    TEXT NOT NULL
        );
        """,
    ),
    Migration(
        "0003_translations",
        """
        -- Sentence translations by (source text hash, model key, target language).
        CREATE TABLE translation_cache (
            source_hash   TEXT NOT NULL,
            model         TEXT NOT NULL,
            target        TEXT NOT NULL,
            output        TEXT NOT NULL,
            created_at    TEXT NOT NULL,
            PRIMARY KEY (source_hash, model, target)
        );

        -- One edition per report and language other than the report's own.
        CREATE TABLE editions (
            report_id     INTEGER NOT NULL REFERENCES reports(id) ON DELETE CASCADE,
            language      TEXT NOT NULL,
            key           TEXT NOT NULL,
            title         TEXT,
            summary       TEXT,
            body          TEXT,
            model         TEXT,
            flags         TEXT NOT NULL,
            body_flags    TEXT NOT NULL,
            created_at    TEXT NOT NULL,
            PRIMARY KEY (report_id, language)
        );
        """,
    ),
    Migration(
        "0004_subscribers",
        """
        CREATE TABLE subscribers (
            id             {id},
            email          TEXT NOT NULL UNIQUE,
            name           TEXT,
            language       TEXT NOT NULL,
            format         TEXT NOT NULL,
            status         TEXT NOT NULL,
            consent_source TEXT NOT NULL,
            consent_at     TEXT NOT NULL,
            bounces        INTEGER NOT NULL DEFAULT 0,
            created_at     TEXT NOT NULL,
            updated_at     TEXT NOT NULL
        );

        -- Membership of a subscriber in a list (lists are named in newsletter.toml or in the
        -- lists table below).
        CREATE TABLE subscriptions (
            subscriber_id  INTEGER NOT NULL REFERENCES subscribers(id) ON DELETE CASCADE,
            list_name      TEXT NOT NULL,
            status         TEXT NOT NULL,
            created_at     TEXT NOT NULL,
            updated_at     TEXT NOT NULL,
            PRIMARY KEY (subscriber_id, list_name)
        );
        CREATE INDEX subscriptions_by_list ON subscriptions(list_name, status, subscriber_id);

        -- Lists managed from the command line (those in newsletter.toml are not stored).
        CREATE TABLE lists (
            name           TEXT PRIMARY KEY,
            spec           TEXT NOT NULL,
            created_at     TEXT NOT NULL
        );

        -- Every unsubscription, with how it was asked for.
        CREATE TABLE unsubscribe_events (
            id             {id},
            subscriber_id  INTEGER NOT NULL,
            list_name      TEXT,
            method         TEXT NOT NULL,
            at             TEXT NOT NULL
        );
        """,
    ),
    Migration(
        "0005_outbox",
        """
        -- An issue is one mailing of a list: an alert, a digest or a one-off send.
        CREATE TABLE issues (
            id             {id},
            list_name      TEXT NOT NULL,
            kind           TEXT NOT NULL,
            report_ids     TEXT NOT NULL,
            created_at     TEXT NOT NULL
        );

        -- Each language's mail of an issue, rendered once; messages are filled in from it.
        CREATE TABLE issue_bodies (
            issue_id       INTEGER NOT NULL REFERENCES issues(id) ON DELETE CASCADE,
            language       TEXT NOT NULL,
            rendered       TEXT NOT NULL,
            PRIMARY KEY (issue_id, language)
        );

        -- One row per (issue, subscriber), created before anything is sent.
        CREATE TABLE outbox (
            id              {id},
            issue_id        INTEGER NOT NULL REFERENCES issues(id),
            subscriber_id   INTEGER NOT NULL,
            address         TEXT NOT NULL,
            name            TEXT,
            language        TEXT NOT NULL,
            message_id      TEXT NOT NULL UNIQUE,
            state           TEXT NOT NULL,
            attempts        INTEGER NOT NULL DEFAULT 0,
            next_attempt_at TEXT,
            lease_owner     TEXT,
            lease_until     TEXT,
            last_code       INTEGER,
            last_text       TEXT,
            ambiguous       INTEGER NOT NULL DEFAULT 0,
            sent_at         TEXT,
            UNIQUE (issue_id, subscriber_id)
        );
        CREATE INDEX outbox_due ON outbox(state, next_attempt_at);
        """,
    ),
    Migration(
        "0006_schedule",
        """
        -- Which report went out in which issue of a list: a report is sent to a list once.
        CREATE TABLE issue_reports (
            list_name      TEXT NOT NULL,
            report_id      INTEGER NOT NULL REFERENCES reports(id) ON DELETE CASCADE,
            issue_id       INTEGER NOT NULL REFERENCES issues(id),
            PRIMARY KEY (list_name, report_id)
        );

        -- What each scheduled job did, for status and for catching up after downtime.
        CREATE TABLE schedule_runs (
            id             {id},
            list_name      TEXT NOT NULL,
            kind           TEXT NOT NULL,
            at             TEXT NOT NULL,
            outcome        TEXT NOT NULL,
            issue_id       INTEGER
        );
        CREATE INDEX schedule_runs_by_list ON schedule_runs(list_name, kind, at);

        -- Who may send: one scheduler at a time holds this lease.
        CREATE TABLE leases (
            name           TEXT PRIMARY KEY,
            owner          TEXT NOT NULL,
            expires_at     TEXT NOT NULL
        );
        """,
    ),
    Migration(
        "0007_outbox_leases",
        """
        -- A sender renews the leases it holds by owner; recovery finds expired ones by time.
        CREATE INDEX outbox_lease_owner ON outbox(lease_owner) WHERE lease_owner IS NOT NULL;
        CREATE INDEX outbox_leased ON outbox(state, lease_until)
            WHERE state IN ('sending', 'transmitting');
        """,
    ),
    Migration(
        "0008_outbox_format",
        """
        -- The subscriber's format when the issue was queued: html (multipart/alternative) or
        -- text (a single text/plain body).
        ALTER TABLE outbox ADD COLUMN format TEXT NOT NULL DEFAULT 'html';
        """,
    ),
    Migration(
        "0009_scale_out",
        """
        -- A lease's epoch grows each time another owner takes it: writes made under the lease
        -- name the epoch they hold, so a holder that froze and came back is fenced out.
        ALTER TABLE leases ADD COLUMN epoch BIGINT NOT NULL DEFAULT 0;

        -- A scheduled fire (list, kind, scheduled time) is done once, whoever fires it.
        ALTER TABLE schedule_runs ADD COLUMN fire TEXT;
        CREATE UNIQUE INDEX schedule_runs_fire ON schedule_runs(list_name, kind, fire)
            WHERE fire IS NOT NULL;
        CREATE UNIQUE INDEX schedule_runs_start ON schedule_runs(list_name)
            WHERE kind = 'start';

        -- One translation job per report: leased by a translation worker like outbox rows.
        CREATE TABLE translation_jobs (
            report_id      INTEGER PRIMARY KEY REFERENCES reports(id) ON DELETE CASCADE,
            source_key     TEXT NOT NULL,
            state          TEXT NOT NULL,
            lease_owner    TEXT,
            lease_until    TEXT,
            attempts       INTEGER NOT NULL DEFAULT 0,
            last_error     TEXT,
            queued_at      TEXT NOT NULL,
            done_at        TEXT
        );
        CREATE INDEX translation_jobs_waiting ON translation_jobs(queued_at)
            WHERE state = 'pending';

        -- Every running process of the program, by role, with what it holds: for
        -- `newsletter workers`.
        CREATE TABLE workers (
            id             TEXT PRIMARY KEY,
            role           TEXT NOT NULL,
            host           TEXT NOT NULL,
            pid            INTEGER NOT NULL,
            detail         TEXT NOT NULL,
            started_at     TEXT NOT NULL,
            heartbeat_at   TEXT NOT NULL,
            stopped_at     TEXT
        );
        """,
    ),
    Migration(
        "0010_review",
        """
        -- A reviewer's decision on one edition, for the translation it was made from (key): a
        -- new translation of the report starts unreviewed.
        CREATE TABLE edition_reviews (
            report_id      INTEGER NOT NULL REFERENCES reports(id) ON DELETE CASCADE,
            language       TEXT NOT NULL,
            key            TEXT NOT NULL,
            state          TEXT NOT NULL,
            title          TEXT,
            summary        TEXT,
            reviewer       TEXT NOT NULL,
            reason         TEXT NOT NULL DEFAULT '',
            at             TEXT NOT NULL,
            PRIMARY KEY (report_id, language)
        );

        -- A language of a report that an issue held back: its readers get the report once
        -- the edition may go (approved, or translated cleanly), in a later issue, once.
        CREATE TABLE holds (
            list_name      TEXT NOT NULL,
            report_id      INTEGER NOT NULL REFERENCES reports(id) ON DELETE CASCADE,
            language       TEXT NOT NULL,
            issue_id       INTEGER NOT NULL REFERENCES issues(id),
            held_at        TEXT NOT NULL,
            released_issue INTEGER REFERENCES issues(id),
            released_at    TEXT,
            PRIMARY KEY (list_name, report_id, language)
        );
        CREATE INDEX holds_waiting ON holds(list_name) WHERE released_issue IS NULL;

        -- Approved sentence pairs: used before the model for the same sentence again.
        CREATE TABLE translation_memory (
            source_language TEXT NOT NULL,
            target_language TEXT NOT NULL,
            source_hash     TEXT NOT NULL,
            source          TEXT NOT NULL,
            target          TEXT NOT NULL,
            reviewer        TEXT NOT NULL,
            at              TEXT NOT NULL,
            PRIMARY KEY (source_language, target_language, source_hash)
        );
        """,
    ),
    Migration(
        "0011_reviewers",
        """
        -- People who may log in to the review pages (argon2id password hashes).
        CREATE TABLE reviewers (
            name           TEXT PRIMARY KEY,
            password_hash  TEXT NOT NULL,
            created_at     TEXT NOT NULL
        );

        -- Logged-in sessions: the cookie's token is stored hashed; each has its CSRF token.
        CREATE TABLE review_sessions (
            token_hash     TEXT PRIMARY KEY,
            reviewer       TEXT NOT NULL REFERENCES reviewers(name) ON DELETE CASCADE,
            csrf           TEXT NOT NULL,
            created_at     TEXT NOT NULL,
            expires_at     TEXT NOT NULL
        );

        -- Failed logins, by name and by client, for the rate limit.
        CREATE TABLE login_failures (
            id             {id},
            subject        TEXT NOT NULL,
            at             TEXT NOT NULL
        );
        CREATE INDEX login_failures_by_subject ON login_failures(subject, at);
        """,
    ),
    Migration(
        "0012_places",
        """
        -- The countries and regions a report is about (ISO 3166 codes, space-separated), as
        -- the gazetteer of places_version detected them; NULL: not detected yet.
        ALTER TABLE reports ADD COLUMN places TEXT;
        ALTER TABLE reports ADD COLUMN places_version TEXT;
        """,
    ),
    Migration(
        "0013_outbox_by_issue",
        """
        -- The messages of one issue: whether one was sent (the web archive) and their states.
        CREATE INDEX outbox_by_issue ON outbox(issue_id, state);
        """,
    ),
    Migration(
        "0014_outbox_partial_indexes",
        """
        -- Every message changes state three or four times on its way out: each index that
        -- holds every row is written at each change. These hold only the rows their
        -- queries look for: the due ones (claims, status) and the sent ones (the archive
        -- asks whether an issue reached anyone).
        DROP INDEX outbox_due;
        CREATE INDEX outbox_due ON outbox(state, next_attempt_at)
            WHERE state IN ('pending', 'retry');
        DROP INDEX outbox_by_issue;
        CREATE INDEX outbox_sent_by_issue ON outbox(issue_id) WHERE state = 'sent';
        """,
    ),
    Migration(
        "0015_revision_texts",
        """
        -- Each revision keeps its own text, so that an operator sees how much changed from one
        -- to the next and can split a revision wrongly taken for an update into a report of
        -- its own (split_from, split_revision: the report and revision it was). The current
        -- revision's text is copied from the report; older ones were not kept.
        ALTER TABLE report_revisions ADD COLUMN title TEXT;
        ALTER TABLE report_revisions ADD COLUMN source TEXT;
        ALTER TABLE report_revisions ADD COLUMN kind TEXT;
        ALTER TABLE report_revisions ADD COLUMN published TEXT;
        ALTER TABLE report_revisions ADD COLUMN posted TEXT;
        ALTER TABLE report_revisions ADD COLUMN language TEXT;
        ALTER TABLE report_revisions ADD COLUMN dateline TEXT;
        ALTER TABLE report_revisions ADD COLUMN body TEXT;
        ALTER TABLE report_revisions ADD COLUMN encoding TEXT;
        ALTER TABLE report_revisions ADD COLUMN split_from INTEGER;
        ALTER TABLE report_revisions ADD COLUMN split_revision INTEGER;
        UPDATE report_revisions
           SET (title, source, kind, published, posted, language, dateline, body, encoding) =
               (SELECT r.title, r.source, r.kind, r.published, r.posted, r.language,
                       r.dateline, r.body, r.encoding
                  FROM reports r
                 WHERE r.id = report_revisions.report_id
                   AND r.revision = report_revisions.revision);
        -- The identity key becomes the title key of newsletter.reports.identity (updates are
        -- looked up by title or file, then judged by their text): marked stale here, it is
        -- computed again by the next ingest.
        UPDATE reports SET identity_key = 'stale:' || identity_key;
        """,
    ),
    Migration(
        "0016_report_failures",
        """
        -- A step (summarise, place) that failed for one report: the error, how often, and
        -- when it is tried again (with backoff), so that one poisoned report never blocks
        -- the others and is shown to the operator.
        CREATE TABLE report_failures (
            report_id        INTEGER NOT NULL REFERENCES reports(id) ON DELETE CASCADE,
            step             TEXT NOT NULL,
            attempts         INTEGER NOT NULL,
            error            TEXT NOT NULL,
            first_failed_at  TEXT NOT NULL,
            last_failed_at   TEXT NOT NULL,
            next_attempt_at  TEXT NOT NULL,
            PRIMARY KEY (report_id, step)
        );
        """,
    ),
    Migration(
        "0017_bounces",
        """
        -- What came back to the return path: one row per returned message (a bounce, a
        -- complaint, an auto-reply, or something not understood), and per refusal the relay
        -- gave while sending. The fingerprint names the message whatever reads it, so one
        -- read twice (two readers at once, or one killed before it marked the message read)
        -- counts once.
        CREATE TABLE bounces (
            id            {id},
            fingerprint   TEXT NOT NULL UNIQUE,
            received_at   TEXT NOT NULL,
            source        TEXT NOT NULL,
            kind          TEXT NOT NULL,
            outcome       TEXT NOT NULL,
            outbox_id     INTEGER,
            subscriber_id INTEGER,
            list_name     TEXT,
            language      TEXT,
            address       TEXT,
            status        TEXT,
            diagnostic    TEXT,
            detail        TEXT NOT NULL
        );
        CREATE INDEX bounces_received ON bounces(received_at);
        CREATE INDEX bounces_subscriber ON bounces(subscriber_id);
        -- What came back for a sent message: bounced or complained.
        ALTER TABLE outbox ADD COLUMN returned TEXT;
        -- A reader's bounce score (decaying), and why and since when their status is what it
        -- is; a soft suppression ends at suppressed_until.
        ALTER TABLE subscribers ADD COLUMN bounce_score REAL NOT NULL DEFAULT 0;
        ALTER TABLE subscribers ADD COLUMN bounce_scored_at TEXT;
        ALTER TABLE subscribers ADD COLUMN status_reason TEXT;
        ALTER TABLE subscribers ADD COLUMN status_at TEXT;
        ALTER TABLE subscribers ADD COLUMN suppressed_until TEXT;
        """,
    ),
    Migration(
        "0018_readers",
        """
        -- What changed for a reader, when, and by which way (their own link, the office, a
        -- complaint): `subscribers show` tells it.
        CREATE TABLE reader_changes (
            id            {id},
            subscriber_id INTEGER NOT NULL,
            at            TEXT NOT NULL,
            what          TEXT NOT NULL,
            detail        TEXT,
            via           TEXT NOT NULL
        );
        CREATE INDEX reader_changes_subscriber ON reader_changes(subscriber_id);
        -- Readers who asked to be forgotten, by an HMAC of their address
        -- (newsletter.subscribers.privacy): an import never brings them back.
        CREATE TABLE erased_addresses (
            digest TEXT PRIMARY KEY,
            at     TEXT NOT NULL
        );
        -- A pause: nothing is queued for the reader before paused_until.
        ALTER TABLE subscribers ADD COLUMN paused_until TEXT;
        """,
    ),
    Migration(
        "0019_language_chains",
        """
        -- A reader's languages, first choice first ("kk,ru,en"; NULL: their language alone):
        -- when the first one's edition is not ready, they get the next that is.
        ALTER TABLE subscribers ADD COLUMN languages TEXT;
        -- The language a message's reader wanted first, when it went in another one of
        -- their chain (NULL: it went in their first choice).
        ALTER TABLE outbox ADD COLUMN wanted TEXT;
        """,
    ),
    Migration(
        "0020_frequencies",
        """
        -- How often a reader gets a list (newsletter.lists.spec.Frequency): NULL as the list
        -- goes out; "daily" (an alerts list's alerts as a daily digest) or "weekly" (a daily
        -- list's digests as a weekly one). A change takes effect after frequency_from (the
        -- next digest of that frequency); until then previous_frequency holds, so that no
        -- report is lost or sent twice across the change.
        ALTER TABLE subscriptions ADD COLUMN frequency TEXT;
        ALTER TABLE subscriptions ADD COLUMN frequency_from TEXT;
        ALTER TABLE subscriptions ADD COLUMN previous_frequency TEXT;
        """,
    ),
    Migration(
        "0021_report_cap",
        """
        -- The CAP values the office set for one report (`reports cap`): they come before the
        -- list's and [cap]'s in its alerts' CAP documents.
        CREATE TABLE report_cap (
            report_id  INTEGER PRIMARY KEY REFERENCES reports(id) ON DELETE CASCADE,
            category   TEXT,
            urgency    TEXT,
            severity   TEXT,
            certainty  TEXT
        );
        """,
    ),
    Migration(
        "0022_periodic_indexes",
        """
        -- What the service and the web app ask again and again, by indexes that follow the
        -- work, not the history: soft suppressions to end (every poll), readers at another
        -- frequency (every poll), and a list's newest reports (every feed request).
        CREATE INDEX subscribers_suppressed ON subscribers(suppressed_until)
            WHERE suppressed_until IS NOT NULL;
        CREATE INDEX subscriptions_frequency ON subscriptions(list_name)
            WHERE frequency IS NOT NULL;
        CREATE INDEX subscriptions_previous_frequency ON subscriptions(list_name)
            WHERE previous_frequency IS NOT NULL;
        CREATE INDEX issue_reports_newest ON issue_reports(list_name, issue_id);
        """,
    ),
    OUTBOX_TALLY,
)
