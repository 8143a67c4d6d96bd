"""What every storage backend promises: the queries of each concept, transactions that
commit together or not at all (nesting as savepoints), leases, and fenced outbox writes."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from typing import TypeVar

import pytest

from newsletter.bounces.rules import BounceRules, Kind, Outcome
from newsletter.delivery.rules import Change, QueuedMessage, State
from newsletter.errors import AlreadySent, LeaseLost, NotFound
from newsletter.reports.model import Report
from newsletter.store import Store
from newsletter.store.bounces import Entry
from newsletter.subscribers.addresses import Status, check_subscriber
from newsletter.translate.core import Flag
from newsletter.translate.editions import Edition
from tests.contract.conftest import Reopen
from tests.helpers import mark

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _report(title: str = "Kazakhstan: Floods", language: str = "en",
            day: date = date(2026, 3, 1)) -> Report:
    return Report(title=title, source="OCHA", kind="Situation Report", published=day,
                  language=language, body="Floods hit the north.\n\nPeople were moved.",
                  dateline="ASTANA", posted=day)


def _add(store: Store, title: str = "Kazakhstan: Floods", *, key: str = "k1",
         language: str = "en", day: date = date(2026, 3, 1)) -> int:
    return store.reports.add(_report(title, language, day), content_hash=f"h-{title}",
                             identity_key=key, path=f"{key}.txt", encoding="utf-8", now=NOW)


def _subscribe(store: Store, *emails: str, list_name: str = "daily",
               language: str | None = None) -> list[int]:
    store.subscribers.import_rows([check_subscriber(e, language=language) for e in emails],
                                  list_name, consent_source="test", now=NOW)
    return [store.subscribers.get(e).id for e in emails]


def _issue(store: Store, report_ids: list[int], list_name: str = "daily") -> tuple[int, int]:
    def recipients(issue_id: int) -> Iterator[QueuedMessage]:
        for s in store.subscribers.recipients(list_name):
            yield QueuedMessage(s.id, s.email, s.name, s.language,
                                f"n{issue_id}.{s.id}@example.org", s.format)
    return store.issues.create(list_name, "alert", report_ids, {"en": '{"x": 1}'}, NOW,
                               recipients=recipients)


# -- transactions -------------------------------------------------------------------------


def test_a_transaction_commits_all_its_writes_together(store: Store) -> None:
    with store.transaction():
        store.lists.save("a", {"title": "A"}, NOW)
        store.lists.save("b", {"title": "B"}, NOW)
    assert sorted(store.lists.stored()) == ["a", "b"]


def _fails_in_a_transaction(store: Store, *writes: Callable[[], object]) -> None:
    """Run ``writes`` in one transaction, then fail."""
    with store.transaction():
        for write in writes:
            write()
        raise RuntimeError("the block fails")


def test_an_error_rolls_the_whole_transaction_back(store: Store) -> None:
    with pytest.raises(RuntimeError):
        _fails_in_a_transaction(store, lambda: store.lists.save("a", {"title": "A"}, NOW),
                                lambda: store.lists.save("b", {"title": "B"}, NOW))
    assert store.lists.stored() == {}
    assert not store.db.in_transaction


def test_an_inner_transaction_is_a_savepoint(store: Store) -> None:
    with store.transaction():
        store.lists.save("outer", {"title": "O"}, NOW)
        with pytest.raises(RuntimeError):
            _fails_in_a_transaction(store, lambda: store.lists.save("inner", {"title": "I"},
                                                                    NOW))
        assert store.db.in_transaction
        with store.transaction():
            store.lists.save("kept", {"title": "K"}, NOW)
    assert sorted(store.lists.stored()) == ["kept", "outer"]


def test_an_inner_block_commits_only_with_the_outer_one(store: Store) -> None:
    def inner() -> None:
        with store.transaction():
            store.lists.save("inner", {"title": "I"}, NOW)

    with pytest.raises(RuntimeError):
        _fails_in_a_transaction(store, inner)
    assert store.lists.stored() == {}


def test_a_repository_method_with_its_own_transaction_nests_in_the_callers(
        store: Store) -> None:
    with pytest.raises(RuntimeError):  # import_rows runs its own transaction
        _fails_in_a_transaction(store, lambda: _subscribe(store, "a@example.org"))
    assert store.subscribers.find("a@example.org") is None


# -- reports, inbox, summaries, editions ----------------------------------------------------


def test_reports_are_stored_read_and_revised(store: Store) -> None:
    first = _add(store, "Kazakhstan: Floods", key="k1", day=date(2026, 3, 1))
    second = _add(store, "Казахстан: паводки", key="k2", language="ru", day=date(2026, 3, 2))
    got = store.reports.get(first)
    assert (got.report, got.revision, got.path) == (_report(), 1, "k1.txt")
    assert store.reports.id_by_hash("h-Kazakhstan: Floods") == first
    assert store.reports.id_by_identity("k2") == second
    assert store.reports.id_by_identity("nope") is None
    assert [r.id for r in store.reports.newest()] == [second, first]
    assert [r.id for r in store.reports.newest(limit=1)] == [second]
    assert store.reports.by_language() == {"en": 1, "ru": 1}
    assert list(store.reports.get_many([second, first])) == [second, first]
    revised = store.reports.update(first, _report("Kazakhstan: Floods (update)"),
                                   content_hash="h2", identity_key="k1", path="k1.txt",
                                   encoding="utf-8", now=NOW + timedelta(hours=1))
    assert revised == 2
    assert store.reports.get(first).report.title == "Kazakhstan: Floods (update)"
    assert store.reports.id_by_hash("h2") == first
    assert store.reports.revision_count() == 3


def test_a_missing_report_is_a_clear_error(store: Store) -> None:
    first = _add(store)
    with pytest.raises(NotFound):
        store.reports.get(first + 1)
    with pytest.raises(NotFound):
        store.reports.get_many([first, first + 1])


def test_the_inbox_remembers_files_and_counts_quarantine(store: Store) -> None:
    assert store.inbox.last_seen() is None
    store.inbox.remember("a.txt", size=10, mtime_ns=1, status="ingested", report_id=None,
                         now=NOW)
    store.inbox.remember("a.txt", size=12, mtime_ns=2, status="updated", report_id=None,
                         now=NOW + timedelta(minutes=1))
    known = store.inbox.known()
    assert (known["a.txt"].size, known["a.txt"].mtime_ns, known["a.txt"].status) == (
        12, 2, "updated")
    assert store.inbox.last_seen() == NOW + timedelta(minutes=1)
    store.inbox.quarantine("b.txt", "quarantine/b.txt", "empty", "no text", NOW)
    assert store.inbox.quarantined() == 1


def test_summaries_are_needed_until_saved_for_the_current_revision(store: Store) -> None:
    rid = _add(store)
    settings = {"method": "lead", "max_sentences": 3, "max_words": 80}
    assert [r.id for r in store.summaries.needed(**settings)] == [rid]
    assert store.summaries.missing() == 1
    store.summaries.save(rid, 1, sentences=["Floods hit the north."], now=NOW, **settings)
    assert store.summaries.needed(**settings) == []
    assert store.summaries.missing() == 0
    assert store.summaries.of(rid) == ("Floods hit the north.",)
    assert store.summaries.of_many([rid, rid + 1]) == {rid: ("Floods hit the north.",)}
    assert [r.id for r in store.summaries.needed(**{**settings, "max_words": 40})] == [rid]


def test_editions_and_the_translation_cache_round_trip(store: Store) -> None:
    rid = _add(store)
    flag = Flag("unknown_tokens", "2 unknown tokens in the title")
    edition = Edition("kk", "Қазақстан: су тасқыны", ("Солтүстікті су басты.",), "Мәтін",
                      "en-kk", (flag,), ())
    store.editions.save(rid, edition, "key-1", NOW)
    assert store.editions.of(rid) == {"kk": edition}
    replaced = Edition("kk", "Қазақстан", None, None, "en-kk")
    store.editions.save(rid, replaced, "key-2", NOW)
    assert store.editions.of_many([rid]) == {rid: {"kk": replaced}}
    store.editions.cache("en-kk", "kk", {"a": "бір", "b": "екі"}, NOW)
    store.editions.cache("en-kk", "kk", {"a": "бір"}, NOW)  # again: no error, no duplicate
    assert store.editions.cached("en-kk", "kk", ["a", "b", "c"]) == {"a": "бір", "b": "екі"}
    totals = store.editions.totals()
    assert (totals.editions, totals.cached) == (1, 2)


# -- subscribers and lists ----------------------------------------------------------------


def test_subscribers_import_update_and_keep_their_choices(store: Store) -> None:
    counts = store.subscribers.import_rows(
        [check_subscriber("a@example.org", "Айгүл", "kk"), check_subscriber("b@example.org")],
        "daily", consent_source="csv", now=NOW)
    assert (counts.added, counts.subscribed) == (2, 2)
    again = store.subscribers.import_rows([check_subscriber("a@example.org")], "weekly",
                                          consent_source="csv", now=NOW)
    assert (again.added, again.updated, again.unchanged, again.subscribed) == (0, 0, 1, 1)
    a = store.subscribers.get("a@example.org")
    assert (a.name, a.language, a.status) == ("Айгүл", "kk", Status.ACTIVE)
    assert store.subscribers.by_id(a.id) == a
    assert store.subscribers.memberships(a.id) == {"daily": "active", "weekly": "active"}
    assert store.subscribers.counts_by_list() == {"daily": {"active": 2},
                                                  "weekly": {"active": 1}}
    with pytest.raises(NotFound):
        store.subscribers.get("nobody@example.org")


def test_only_active_members_are_recipients(store: Store) -> None:
    a, b, c, d = _subscribe(store, "a@example.org", "b@example.org", "c@example.org",
                            "d@example.org")
    assert store.subscribers.unsubscribe(b, "daily", "web", NOW)
    assert not store.subscribers.unsubscribe(b, "daily", "web", NOW)  # already done
    store.subscribers.set_status(c, Status.SUPPRESSED, "cli", NOW)
    store.subscribers.import_rows([check_subscriber("d@example.org")], "weekly",
                                  consent_source="invitation", now=NOW, status="pending")
    assert [s.email for s in store.subscribers.recipients("daily")] == ["a@example.org",
                                                                        "d@example.org"]
    blocked = store.subscribers.import_rows([check_subscriber("b@example.org")], "daily",
                                            consent_source="csv", now=NOW)
    assert blocked.not_resubscribed == []  # b is active; only the membership ended
    assert store.subscribers.memberships(b)["daily"] == "unsubscribed"
    assert [s.id for s in store.subscribers.recipients("daily")] == [a, d]


def test_a_pending_invitation_is_confirmed_once(store: Store) -> None:
    store.subscribers.import_rows([check_subscriber("p@example.org")], "daily",
                                  consent_source="invitation", now=NOW, status="pending")
    pending = store.subscribers.get("p@example.org")
    assert list(store.subscribers.recipients("daily")) == []
    assert store.subscribers.confirm(pending.id, "daily", NOW)
    assert [s.email for s in store.subscribers.recipients("daily")] == ["p@example.org"]


def _sent(store: Store, *emails: str) -> dict[str, int]:
    """``emails`` subscribed to daily and sent one alert: each address's outbox row."""
    _subscribe(store, *emails)
    issue_id, _ = _issue(store, [_add(store)])
    _deliver(store, issue_id)
    return {row["address"]: row["id"] for row in store.outbox.rows(issue_id)}


RULES = BounceRules(threshold=2, suppress_days=30)


def test_bounces_past_the_threshold_stop_the_address_for_a_while(store: Store) -> None:
    rows = _sent(store, "a@example.org")
    a = store.subscribers.get("a@example.org").id
    first = Entry("f1", "maildir", Kind.PERMANENT, "a@example.org", "5.7.1", "policy",
                  outbox_id=rows["a@example.org"])
    assert store.bounces.record(first, RULES, NOW) is Outcome.SCORED
    assert store.bounces.record(first, RULES, NOW) is None  # the same message: counted once
    second = dataclasses.replace(first, fingerprint="f2")
    assert store.bounces.record(second, RULES, NOW) is Outcome.SUPPRESSED
    stopped = store.subscribers.by_id(a)
    assert (stopped.status, stopped.status_reason) == (Status.BOUNCED, "5.7.1 policy")
    assert stopped.suppressed_until == NOW + timedelta(days=30)
    assert list(store.subscribers.recipients("daily")) == []
    assert store.bounces.expire(NOW + timedelta(days=29)) == 0
    assert store.bounces.expire(NOW + timedelta(days=30)) == 1
    assert store.subscribers.by_id(a).status == Status.ACTIVE
    assert store.subscribers.by_id(a).bounce_score == 0


def test_a_user_unknown_stops_at_once_and_a_complaint_ends_one_membership(
        store: Store) -> None:
    rows = _sent(store, "gone@example.org", "angry@example.org")
    store.subscribers.import_rows([check_subscriber("angry@example.org")], "weekly",
                                  consent_source="test", now=NOW)
    assert store.bounces.record(Entry("g", "imap", Kind.PERMANENT, "gone@example.org",
                                      "5.1.1", outbox_id=rows["gone@example.org"]),
                                RULES, NOW) is Outcome.DISABLED
    gone = store.subscribers.get("gone@example.org")
    assert (gone.status, gone.suppressed_until) == (Status.BOUNCED, None)
    assert store.bounces.record(Entry("c", "imap", Kind.COMPLAINT, status="abuse",
                                      outbox_id=rows["angry@example.org"]),
                                RULES, NOW) is Outcome.UNSUBSCRIBED
    angry = store.subscribers.get("angry@example.org")
    assert angry.status == Status.ACTIVE
    assert store.subscribers.memberships(angry.id) == {"daily": "unsubscribed",
                                                       "weekly": "active"}
    returned = {row["address"]: row["returned"] for row in store.outbox.rows()}
    assert returned == {"gone@example.org": "bounced", "angry@example.org": "complained"}
    [daily] = store.bounces.returns(NOW + timedelta(days=5), timedelta(days=3))
    assert (daily.sent, daily.delivered, daily.bounced, daily.complained) == (2, 0, 1, 1)
    assert store.bounces.reactivate(gone.id, NOW)
    assert store.subscribers.get("gone@example.org").status == Status.ACTIVE


def test_an_unmatched_message_changes_no_reader(store: Store) -> None:
    _sent(store, "a@example.org")
    outcome = store.bounces.record(Entry("u", "pop3", Kind.PERMANENT, "a@example.org",
                                         "5.1.1", problem="forged"), RULES, NOW)
    assert outcome is Outcome.UNMATCHED
    assert store.subscribers.get("a@example.org").status == Status.ACTIVE
    [recorded] = store.bounces.listing(unmatched=True)
    assert (recorded.detail, recorded.subscriber_id) == ("forged", None)


def test_one_message_read_by_many_at_once_counts_once(store: Store, reopen: Reopen) -> None:
    rows = _sent(store, "a@example.org")
    entry = Entry("same", "imap", Kind.PERMANENT, "a@example.org", "5.7.1",
                  outbox_id=rows["a@example.org"])
    outcomes = _at_once(reopen, lambda other, i: other.bounces.record(entry, RULES, NOW), 3)
    assert sorted(map(str, outcomes)) == ["None", "None", "scored"]
    assert store.subscribers.get("a@example.org").bounce_score == 1


def test_bounces_for_one_reader_at_once_all_count(store: Store, reopen: Reopen) -> None:
    rows = _sent(store, "a@example.org")
    rules = BounceRules(threshold=10)

    def one(other: Store, index: int) -> Outcome | None:
        return other.bounces.record(Entry(f"m{index}", "imap", Kind.PERMANENT,
                                          "a@example.org", "5.7.1",
                                          outbox_id=rows["a@example.org"]), rules, NOW)

    assert _at_once(reopen, one, 3) == [Outcome.SCORED] * 3
    assert store.subscribers.get("a@example.org").bounce_score == 3


def test_lists_are_saved_replaced_and_deleted(store: Store) -> None:
    store.lists.save("kz", {"title": "Kazakhstan", "languages": ["kk", "ru"]}, NOW)
    store.lists.save("kz", {"title": "Қазақстан"}, NOW)
    assert store.lists.stored() == {"kz": {"title": "Қазақстан"}}
    assert store.lists.delete("kz")
    assert not store.lists.delete("kz")


# -- issues and schedule runs --------------------------------------------------------------


def test_an_issue_records_its_bodies_rows_and_claim_together(store: Store) -> None:
    first, second = _add(store, key="k1"), _add(store, "Kyrgyzstan: Mudflow", key="k2")
    _subscribe(store, "a@example.org", "b@example.org")
    issue_id, queued = _issue(store, [first])
    assert queued == 2
    issue = store.issues.get(issue_id)
    assert (issue.list_name, issue.kind, issue.report_ids) == ("daily", "alert", (first,))
    assert store.issues.bodies(issue_id) == {"en": '{"x": 1}'}
    assert store.issues.sent_in("daily", first) == issue_id
    assert store.issues.sent_in("weekly", first) is None
    assert [r.id for r in store.issues.unsent_reports("daily", NOW)] == [second]
    assert store.outbox.counts() == {State.PENDING: 2}


def test_a_report_is_claimed_once_per_list_and_a_second_claim_leaves_nothing(
        store: Store) -> None:
    rid = _add(store)
    _subscribe(store, "a@example.org")
    first, _ = _issue(store, [rid])
    with pytest.raises(AlreadySent) as caught:
        _issue(store, [rid])
    assert caught.value.issue_id == first
    assert store.outbox.counts() == {State.PENDING: 1}
    _issue(store, [rid], list_name="weekly")  # another list may still get it


def test_a_missing_issue_is_a_clear_error(store: Store) -> None:
    with pytest.raises(NotFound):
        store.issues.get(1)


def _deliver(store: Store, issue_id: int) -> None:
    """Mark the messages of ``issue_id`` sent; leave every other message queued."""
    for row in store.outbox.claim("one", 100, NOW, 30).rows:
        if row.issue_id == issue_id:
            mark(store.outbox, row.id, "one", State.SENDING, State.SENT, now=NOW)
    store.outbox.release("one")


def test_the_archive_holds_the_issues_that_reached_a_reader(store: Store) -> None:
    first, second = _add(store, key="k1"), _add(store, "Kyrgyzstan: Mudflow", key="k2")
    _subscribe(store, "a@example.org")
    older, _ = _issue(store, [first])
    queued, _ = _issue(store, [second])  # queued, never sent
    _deliver(store, older)
    assert [i.id for i in store.issues.archive("daily")] == [older]
    with pytest.raises(NotFound):
        store.issues.archived(queued)
    # a later issue carries report 2, held back from Russian by the first, to ru readers only
    store.holds.record("daily", [(second, "ru")], older, NOW)
    (hold,) = store.holds.waiting("daily")
    later, _ = store.issues.create(
        "daily", "digest", [], {"ru": "{}", "kk": "{}"}, NOW + timedelta(hours=1),
        recipients=lambda issue_id: [QueuedMessage(1, "a@example.org", None, "ru",
                                                   f"n{issue_id}@example.org", "html")])
    assert store.holds.release(hold, later, NOW)
    _deliver(store, later)
    newest = store.issues.archived(later)
    assert (newest.kind, newest.report_ids, newest.languages) == ("digest", (second,),
                                                                  ("kk", "ru"))
    assert [i.id for i in store.issues.archive("daily")] == [later, older]  # newest first
    assert [i.id for i in store.issues.archive("daily", limit=1)] == [later]
    assert store.issues.archived(older).report_ids == (first,)
    assert store.issues.archive("weekly") == []


def test_schedule_runs_record_a_list_start_once_and_the_last_run(store: Store) -> None:
    assert store.runs.list_start("daily") is None
    assert store.runs.record_list_start("daily", NOW) == NOW
    assert store.runs.record_list_start("daily", NOW + timedelta(days=1)) == NOW
    assert store.runs.list_start("daily") == NOW
    assert store.runs.last("daily", "digest") is None
    store.runs.record("daily", "digest", NOW, "empty", None)
    store.runs.record("daily", "digest", NOW + timedelta(days=1), "3 queued", None)
    last = store.runs.last("daily", "digest")
    assert last is not None
    assert (last.at, last.outcome) == (NOW + timedelta(days=1), "3 queued")


# -- leases -------------------------------------------------------------------------------


def _holder(store: Store, owner: str, at: float, seconds: float = 30) -> tuple[str, int]:
    held = store.leases.take("scheduler", owner, NOW + timedelta(seconds=at), seconds)
    return held.owner, held.epoch


def test_a_lease_has_one_holder_until_it_runs_out(store: Store) -> None:
    assert _holder(store, "one", 0) == ("one", 1)
    assert _holder(store, "two", 10) == ("one", 1)
    assert _holder(store, "one", 20) == ("one", 1)  # renewed until 50 s, same epoch
    assert _holder(store, "two", 40) == ("one", 1)
    assert _holder(store, "two", 51) == ("two", 2)  # ran out: taken over, a new epoch
    store.leases.drop("scheduler", "one", NOW + timedelta(seconds=55))  # not the holder
    assert _holder(store, "one", 60) == ("two", 2)
    store.leases.drop("scheduler", "two", NOW + timedelta(seconds=60))
    assert _holder(store, "one", 60) == ("one", 3)  # given up: another holder, a new epoch
    assert _holder(store, "one", 200) == ("one", 3)  # ran out, taken again by its holder


def test_writes_under_a_lease_are_fenced_on_its_epoch(store: Store) -> None:
    first = store.leases.take("scheduler", "one", NOW, 30)
    with store.transaction():
        store.leases.fence("scheduler", "one", first.epoch, NOW + timedelta(seconds=5))
        store.lists.save("kept", {"title": "K"}, NOW)
    later = NOW + timedelta(seconds=31)
    taken = store.leases.take("scheduler", "two", later, 30)
    assert taken.epoch == first.epoch + 1

    def late_write() -> None:
        with store.transaction():
            store.leases.fence("scheduler", "one", first.epoch, later)
            store.lists.save("lost", {"title": "L"}, NOW)

    with pytest.raises(LeaseLost):
        late_write()
    with pytest.raises(LeaseLost):  # an expired lease fences its own holder out too
        store.leases.fence("scheduler", "two", taken.epoch, later + timedelta(seconds=31))
    assert sorted(store.lists.stored()) == ["kept"]


# -- concurrency: two connections at once ------------------------------------------------


T = TypeVar("T")


def _at_once(reopen: Reopen, work: Callable[[Store, int], T], count: int) -> list[T]:
    """``work(store, i)`` in ``count`` threads at once, each with its own connection (as
    separate processes would have), started together. With the test's own connection that
    stays within one process's pool of four PostgreSQL connections."""
    barrier = threading.Barrier(count, timeout=60)

    def one(index: int) -> T:
        with reopen() as other:
            barrier.wait()
            return work(other, index)

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(one, range(count)))


def test_two_takers_at_once_never_both_hold_a_lease(store: Store, reopen: Reopen) -> None:
    holders = _at_once(reopen, lambda other, i: other.leases.take(
        "scheduler", f"o{i}", NOW, 30).owner, 3)
    assert len(set(holders)) == 1
    held = store.leases.holder("scheduler")
    assert held is not None
    assert held.owner == holders[0]


def test_concurrent_claims_never_take_a_row_twice(store: Store, reopen: Reopen) -> None:
    rid = _add(store)
    _subscribe(store, *(f"c{i}@example.org" for i in range(200)))
    _issue(store, [rid])

    def drain(other: Store, index: int) -> list[int]:
        taken: list[int] = []
        while rows := other.outbox.claim(f"w{index}", 7, NOW, 30).rows:
            taken += [row.id for row in rows]
        return taken

    every = [row_id for rows in _at_once(reopen, drain, 3) for row_id in rows]
    assert len(every) == 200
    assert len(set(every)) == 200


def test_two_issues_racing_for_one_report_make_one(store: Store, reopen: Reopen) -> None:
    rid = _add(store)
    _subscribe(store, "a@example.org")

    def create(other: Store, _: int) -> str:
        try:
            _issue(other, [rid])
        except AlreadySent:
            return "refused"
        return "made"

    assert sorted(_at_once(reopen, create, 3)) == ["made", "refused", "refused"]
    assert store.outbox.counts() == {State.PENDING: 1}


def test_a_scheduled_fire_is_done_once(store: Store, reopen: Reopen) -> None:
    fire = NOW.replace(hour=3)
    claimed = [c for c in _at_once(reopen, lambda other, _: other.runs.claim_fire(
        "daily", "digest", fire, NOW), 3) if c is not None]
    assert len(claimed) == 1
    store.runs.finish(claimed[0], "2 queued", None)
    last = store.runs.last("daily", "digest")
    assert last is not None
    assert last.outcome == "2 queued"
    assert store.runs.claim_fire("daily", "digest", fire + timedelta(days=1), NOW) is not None


def test_translation_jobs_are_queued_once_per_change_and_leased(store: Store,
                                                                reopen: Reopen) -> None:
    first, second = _add(store, key="k1"), _add(store, "Kyrgyzstan: Mudflow", key="k2")
    assert store.jobs.enqueue([(first, "a"), (second, "b")], NOW) == 2
    assert store.jobs.enqueue([(first, "a"), (second, "b")], NOW) == 0  # nothing changed
    jobs = [j for j in _at_once(reopen, lambda other, i: other.jobs.claim(
        f"t{i}", NOW, 60), 3) if j is not None]
    assert sorted(j.report_id for j in jobs) == [first, second]
    assert store.jobs.unfinished([first, second]) == {first, second}
    owners = store.jobs.held_by()
    owner_of = {report_id: owner for owner, report_id in owners.items()}
    assert not store.jobs.finish(first, "someone-else", NOW)  # fenced on the lease
    assert store.jobs.finish(first, owner_of[first], NOW)
    assert store.jobs.recover(NOW + timedelta(seconds=30)) == 0  # still leased
    assert store.jobs.recover(NOW + timedelta(seconds=61)) == 1  # its worker died
    assert not store.jobs.finish(second, owner_of[second], NOW)  # too late: taken back
    assert store.jobs.unfinished([first, second]) == {second}
    assert store.jobs.enqueue([(first, "a2")], NOW) == 1  # the report changed: again
    assert store.jobs.counts() == {"pending": 2}


def test_a_translation_job_turns_to_its_bodies_once_no_title_or_summary_waits(
        store: Store) -> None:
    first, second = _add(store, key="k1"), _add(store, "Kyrgyzstan: Mudflow", key="k2")
    store.jobs.enqueue([(first, "a")], NOW)
    job = store.jobs.claim("w", NOW, 60)
    assert job is not None
    assert (job.report_id, job.body) == (first, False)
    assert store.jobs.finish(first, "w", NOW, bodies_wait=True)
    assert store.jobs.unfinished([first]) == set()  # no mail waits for a body
    assert not store.jobs.waiting()
    store.jobs.enqueue([(second, "b")], NOW + timedelta(seconds=1))
    assert store.jobs.waiting()
    assert store.jobs.claim("v", NOW, 60, bodies=False) is not None  # report 2's title first
    assert store.jobs.claim("w", NOW, 60, bodies=False) is None  # titles only: none waits
    body = store.jobs.claim("w", NOW, 60)
    assert body is not None
    assert (body.report_id, body.body) == (first, True)
    assert store.jobs.held_by() == {"v": second, "w": first}
    assert store.jobs.renew("w", NOW + timedelta(seconds=50), 60) == 1
    assert store.jobs.recover(NOW + timedelta(seconds=61)) == 1  # v died: its turn waits again
    assert store.jobs.counts() == {"pending": 1, "body_running": 1}
    assert store.jobs.release("w") == 1  # w stopped: the body waits again
    assert store.jobs.counts() == {"pending": 1, "body": 1}
    assert store.jobs.requeue_all(NOW) == 1  # new models: the titles and summaries again
    assert store.jobs.counts() == {"pending": 2}


def test_an_edition_gets_its_body_after_its_title_and_summary(store: Store) -> None:
    rid = _add(store)
    store.editions.save(rid, Edition("ru", "Паводки", ("Люди",), None, "en→ru m"), "key-1", NOW)
    store.editions.save(rid, Edition("kk", None, None, None, None, (Flag("no_model", "x"),)),
                        "key-0", NOW)
    (state,) = store.editions.state(rid)
    assert state.bodies_waiting == {"ru"}  # a body waits for a title and summary made
    flags = (Flag("length", "long"),)
    assert not store.editions.save_body(rid, "ru", "key-2", "Тело.", flags)  # replaced since
    assert store.editions.save_body(rid, "ru", "key-1", "Тело.", flags)
    edition = store.editions.of(rid)["ru"]
    assert (edition.title, edition.body, edition.body_flags) == ("Паводки", "Тело.", flags)
    assert next(iter(store.editions.state(rid))).bodies_waiting == frozenset()


def test_heartbeats_say_who_runs_and_what_it_holds(queued: Store) -> None:
    queued.workers.beat("h:1", role="deliver", host="h", pid=1, detail="relay r", now=NOW)
    queued.workers.beat("h:1", role="deliver", host="h", pid=1, detail="relay r",
                        now=NOW + timedelta(seconds=10))
    queued.outbox.claim("h:1/sweep", 3, NOW, 30)
    (beat,) = queued.workers.listing()
    assert (beat.role, beat.heartbeat_at, beat.stopped_at) == (
        "deliver", NOW + timedelta(seconds=10), None)
    assert queued.workers.messages_held() == {"h:1": 3}
    queued.workers.stopped("h:1", NOW + timedelta(seconds=20))
    assert queued.workers.listing()[0].stopped_at == NOW + timedelta(seconds=20)


# -- the outbox ---------------------------------------------------------------------------


@pytest.fixture
def queued(store: Store) -> Store:
    rid = _add(store)
    _subscribe(store, *(f"r{i}@example.org" for i in range(5)))
    _issue(store, [rid])
    return store


def test_claims_of_two_owners_never_overlap(queued: Store) -> None:
    one = queued.outbox.claim("one", 3, NOW, 30)
    two = queued.outbox.claim("two", 3, NOW, 30)
    assert len(one.rows) == 3
    assert len(two.rows) == 2
    assert not {r.id for r in one.rows} & {r.id for r in two.rows}
    assert queued.outbox.claim("three", 3, NOW, 30).rows == []
    assert queued.outbox.counts() == {State.SENDING: 5}


def test_every_state_change_is_fenced_by_owner_and_state(queued: Store) -> None:
    (row,) = queued.outbox.claim("one", 1, NOW, 30).rows
    outbox = queued.outbox
    assert not mark(outbox, row.id, "two", State.SENDING, State.TRANSMITTING)  # not the owner
    assert not mark(outbox, row.id, "one", State.PENDING, State.TRANSMITTING)  # not that state
    assert mark(outbox, row.id, "one", State.SENDING, State.TRANSMITTING)
    assert mark(outbox, row.id, "one", State.TRANSMITTING, State.SENT, code=250, text="ok",
                       now=NOW, attempted=True)
    assert not mark(outbox, row.id, "one", State.TRANSMITTING, State.SENT)  # done already
    (entry,) = [e for e in outbox.entries() if e.id == row.id]
    assert (entry.state, entry.attempts, entry.last_code) == (State.SENT, 1, 250)


def test_a_group_is_fenced_in_one_go_and_many_outcomes_are_written_together(
        queued: Store) -> None:
    outbox = queued.outbox
    mine = outbox.claim("one", 3, NOW, 30).rows
    theirs = outbox.claim("two", 1, NOW, 30).rows
    ids = [row.id for row in mine]
    assert outbox.fence([*ids, theirs[0].id], "one") == set(ids)  # not another's row
    assert outbox.fence(ids, "one") == set()  # transmitting already
    made = outbox.write([
        Change(ids[0], State.TRANSMITTING, State.SENT, 250, "2.0.0 queued as A1",
               attempted=True),
        Change(ids[1], State.TRANSMITTING, State.FAILED, 550, "no such user", attempted=True),
        Change(ids[2], State.SENDING, State.SENT, 250, "ok"),  # not in that state: refused
        Change(theirs[0].id, State.SENDING, State.RETRY, 451, "later"),  # not the owner
    ], "one", NOW)
    assert made == [True, True, False, False]
    states = {e.id: (e.state, e.attempts, e.last_text, e.sent_at) for e in outbox.entries()}
    assert states[ids[0]] == (State.SENT, 1, "2.0.0 queued as A1", NOW)
    assert states[ids[1]] == (State.FAILED, 1, "no such user", None)
    assert states[ids[2]][0] == State.TRANSMITTING
    assert states[theirs[0].id][0] == State.SENDING


def test_an_expired_lease_is_recovered_and_fences_out_its_old_owner(queued: Store) -> None:
    outbox = queued.outbox
    claimed = outbox.claim("crashed", 2, NOW, 30).rows
    mark(outbox, claimed[1].id, "crashed", State.SENDING, State.TRANSMITTING)
    assert outbox.recover(NOW + timedelta(seconds=10)).requeued == 0  # still alive
    assert outbox.renew("crashed", NOW + timedelta(seconds=20), 30) == 2
    assert outbox.recover(NOW + timedelta(seconds=40)).requeued == 0  # renewed until 50 s
    recovered = outbox.recover(NOW + timedelta(seconds=51))
    assert (recovered.requeued, recovered.ambiguous) == (1, 1)
    assert not mark(outbox, claimed[1].id, "crashed", State.TRANSMITTING, State.SENT)
    states = {e.id: (e.state, e.ambiguous) for e in outbox.entries()}
    assert states[claimed[0].id] == (State.PENDING, False)
    assert states[claimed[1].id] == (State.RETRY, True)
    assert outbox.summary(NOW + timedelta(seconds=51)).ambiguous == 1


def test_a_clean_stop_releases_unstarted_claims(queued: Store) -> None:
    outbox = queued.outbox
    rows = outbox.claim("one", 5, NOW, 30).rows
    mark(outbox, rows[0].id, "one", State.SENDING, State.TRANSMITTING)
    assert outbox.release("one") == 4
    assert outbox.counts() == {State.PENDING: 4, State.TRANSMITTING: 1}


def test_retries_wait_for_their_time_and_retry_makes_them_due(queued: Store) -> None:
    outbox = queued.outbox
    (row,) = outbox.claim("one", 1, NOW, 30).rows
    later = NOW + timedelta(minutes=10)
    mark(outbox, row.id, "one", State.SENDING, State.RETRY, code=451, text="try later",
                next_attempt_at=later, attempted=True)
    summary = outbox.summary(NOW)
    assert (summary.due, summary.waiting, summary.next_retry) == (4, 1, later)
    assert row.id not in {r.id for r in outbox.claim("two", 10, NOW, 30).rows}
    outbox.release("two")
    assert outbox.requeue().made_due == 1
    assert row.id in {r.id for r in outbox.claim("three", 10, NOW, 30).rows}


def test_a_reader_who_left_after_queueing_is_skipped_not_sent(queued: Store) -> None:
    leaver = queued.subscribers.get("r0@example.org")
    queued.subscribers.unsubscribe(leaver.id, "daily", "web", NOW)
    claimed = queued.outbox.claim("one", 10, NOW, 30)
    assert claimed.skipped == 1
    assert leaver.id not in {r.subscriber_id for r in claimed.rows}
    assert queued.outbox.counts()[State.SKIPPED] == 1
