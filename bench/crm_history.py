"""A CRM's earlier contact history and a marketing lead file, with ground truth.

The end-to-end dedupe benchmark (``bench/dedupe_e2e.py``) needs what a user
brings to a first sync: an org that already holds years of leads, contacts
with their accounts, and some tasks; and a marketing export in which many
people are already in the CRM, written differently. Each marketing lead is
labelled with the CRM person it is (``label``) or None, and with how it was
made (``kind``): one of ``VARIATIONS`` for a true duplicate, of ``HARD`` for
someone who resembles a CRM person but is another (these must not be merged),
or ``"new"``.

People, companies, names and phone styles come from ``bench/leadgen.py``.
Some variations need the CRM side to be set up for them (a Gmail address to
re-dot, a switchboard number, a role mailbox, a company written out in full
for its acronym), so the history is shaped while the leads are drawn: the
same seed always gives the same org and the same file.

    history = generate(history=5_000, leads=2_000, seed=1)
    history.write_csv(path)            # what `leadsync import` takes
    history.people[history.leads[0].label]  # the CRM person a lead is, if any
"""

from __future__ import annotations

import csv
import random
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.leadgen import (
    FIRST,
    FREE_MAIL,
    LEGAL,
    NICKNAMES,
    ROLE_MAILBOXES,
    _mail,
    _recase,
    _strip_legal,
    _typo,
    format_phone,
    people,
)
from connector.matching.keys import phone_key

VARIATIONS = ("accents", "typo_first", "typo_last", "nickname", "swapped", "company_article",
              "company_acronym", "legal_form", "email_new_domain", "email_personal", "gmail",
              "phone_format", "case", "missing_fields")
"""How one person comes back from marketing: each makes a true duplicate."""

HARD = ("switchboard", "role_mailbox", "namesake", "relative", "same_name_same_company")
"""Someone else who looks like a CRM person: each must stay a separate record."""

CSV_COLUMNS = ("email", "first_name", "last_name", "company", "title", "phone", "country",
               "state", "city", "postal_code", "street", "website", "lead_source", "created_at",
               "updated_at", "activities")

ACRONYM_WORDS = ("Alpha", "Beta", "Cosmetics", "Northern", "Pacific", "Logistics", "Global",
                 "Data", "Systems", "Advanced", "Micro", "Devices", "United", "Health",
                 "Partners", "Digital", "Media", "Group", "Atlantic", "Energy", "Capital",
                 "Western", "Bio", "Sciences", "Integrated", "Network", "Solutions", "Royal",
                 "Marine", "Insurance", "Central", "Freight", "Services", "Eastern", "Power")
ACCENTED = {"Garcia": "García", "Rodriguez": "Rodríguez", "Gonzalez": "González",
            "Lopez": "López", "Martinez": "Martínez", "Sanchez": "Sánchez", "Perez": "Pérez",
            "Muller": "Müller", "Jimenez": "Jiménez", "Ramirez": "Ramírez"}
"""Family names people write both ways; the plain ones are in leadgen's list."""
TRUNK_ZERO = {"GB", "DE", "FR", "AU", "NL", "IN", "JP", "BR"}
"""Countries whose numbers are written nationally with a leading 0."""

SHARES = (0.5, 0.2)
"""Share of the lead file that is true duplicates, then hard non-duplicates; the
rest are new people."""


@dataclass
class MarketingLead:
    row: dict[str, str]
    label: int | None
    """Index into ``History.people`` of the CRM person this lead is, or None."""
    kind: str
    near: int | None = None
    """For a hard non-duplicate: the CRM person it resembles."""


@dataclass
class History:
    people: list[dict[str, Any]]
    """CRM people, leadgen-shaped; ``object`` says "Lead" or "Contact"."""
    accounts: list[dict[str, Any]]
    """Accounts (name, domain, phone, city, country); contacts name theirs by ``account``."""
    tasks: list[tuple[int, str]]
    """(person index, subject): earlier outreach."""
    leads: list[MarketingLead] = field(default_factory=list)

    @property
    def records(self) -> int:
        """How many CRM records the history makes (people, accounts, tasks)."""
        return len(self.people) + len(self.accounts) + len(self.tasks)

    def write_csv(self, path: Path) -> None:
        with path.open("w", newline="", encoding="utf-8") as out:
            writer = csv.DictWriter(out, CSV_COLUMNS)
            writer.writeheader()
            writer.writerows(lead.row for lead in self.leads)


def generate(history: int = 5_000, leads: int = 2_000, seed: int = 1,
             now: datetime | None = None) -> History:
    """``history`` CRM records at least (people, their accounts, some tasks) and
    ``leads`` labelled marketing leads, all qualifying (a demo request)."""
    rng = random.Random(f"crm-history-{seed}")
    crowd = people(int(history / 1.1), seed)
    for person in crowd:
        person["object"] = "Contact" if rng.random() < 0.45 else "Lead"
    _unique_emails(crowd)
    made = _Maker(rng, crowd, seed)
    made.draw(leads)
    accounts = _accounts(crowd)
    tasks = [(i, f"Call: {rng.choice(('intro', 'follow-up', 'demo recap'))}")
             for i in rng.sample(range(len(crowd)), max(len(crowd) // 30, 1))]
    result = History(crowd, accounts, tasks, made.out)
    stamp = (now or datetime.now(UTC)).replace(microsecond=0) - timedelta(hours=2)
    for k, lead in enumerate(result.leads):
        lead.row = _csv_row(lead.row, stamp + timedelta(seconds=k))
    return result


def _unique_emails(crowd: list[dict[str, Any]]) -> None:
    """HubSpot holds one contact per address, so the org does too: a second
    person on a role mailbox gets a personal one."""
    seen: set[str] = set()
    for i, person in enumerate(crowd):
        email = person["email"].lower()
        if email in seen:
            person["email"] = f"{_mail(person['first_name'])}.{_mail(person['last_name'])}" \
                              f"{i}@{FREE_MAIL[i % len(FREE_MAIL)]}"
        seen.add(person["email"].lower())


def _accounts(crowd: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One account per company a contact works at."""
    found: dict[str, dict[str, Any]] = {}
    for person in crowd:
        if person["object"] == "Contact" and person["company"] not in found:
            domain = person["email"].partition("@")[2]
            found[person["company"]] = {
                "name": person["company"], "country": person["country"], "city": person["city"],
                "domain": "" if domain in FREE_MAIL else domain,
            }
        person["account"] = person["company"] if person["object"] == "Contact" else None
    return list(found.values())


def _csv_row(r: dict[str, Any], when: datetime) -> dict[str, str]:
    stamp = when.strftime("%Y-%m-%dT%H:%M:%SZ")
    row = {k: str(r.get(k) or "") for k in CSV_COLUMNS}
    row.update(created_at=stamp, updated_at=stamp, lead_source="Web",
               activities=f"form_fill|{stamp}|/demo request;page_visit|{stamp}|/pricing")
    return row


def strip_accents(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text)
                   if not unicodedata.combining(c)).replace("ß", "ss").replace("ø", "o")


class _Maker:
    """Draws the lead file, shaping the CRM person a variation needs."""

    def __init__(self, rng: random.Random, crowd: list[dict[str, Any]], seed: int) -> None:
        self.rng = rng
        self.crowd = crowd
        self.free = list(range(len(crowd)))
        rng.shuffle(self.free)
        self.strangers = people(len(crowd) // 2 + 2_000, seed + 7_919)
        self.names = {(_mail(p["first_name"]), _mail(p["last_name"])) for p in crowd}
        self.emails = {p["email"].lower() for p in crowd}
        self.lead_emails: set[str] = set()
        self.out: list[MarketingLead] = []

    def draw(self, n: int) -> None:
        dupes, hard = int(n * SHARES[0]), int(n * SHARES[1])
        for k in range(n):
            if k < dupes:
                kind = VARIATIONS[k % len(VARIATIONS)]
                i = self._person(kind)
                record, near, label = self._vary(dict(self.crowd[i]), i, kind), None, i
            elif k < dupes + hard:
                kind = HARD[(k - dupes) % len(HARD)]
                i = self._person(kind)
                record, near, label = self._hard(i, kind), i, None
            else:
                kind, record, near, label = "new", self._new(), None, None
            self._claim(record, label)
            self.out.append(MarketingLead(record, label, kind, near))

    def _person(self, kind: str) -> int:
        """An unused CRM person who can carry ``kind``."""
        def fits(p: dict[str, Any]) -> bool:
            if kind == "nickname":
                return p["first_name"] in NICKNAMES
            if kind == "accents":
                name = p["first_name"] + p["last_name"]
                return p["last_name"] in ACCENTED or strip_accents(name) != name
            if kind == "phone_format":
                return bool(phone_key(p["phone"]))
            if kind == "email_new_domain":  # a work address, on a domain the company can move
                return p["email"].partition("@")[2] not in FREE_MAIL
            return True
        for pos, i in enumerate(self.free):
            if fits(self.crowd[i]):
                del self.free[pos]
                return i
        raise ValueError(f"no CRM person left for {kind}: make the history larger")

    def _claim(self, record: dict[str, Any], label: int | None) -> None:
        """Marketing holds one lead per address: a clash gets a numbered one."""
        email = record["email"].lower()
        if email in self.lead_emails or (label is None and email in self.emails
                                         and not record.pop("_shared", False)):
            local, _, domain = email.partition("@")
            record["email"] = f"{local}{len(self.out)}@{domain}"
        record.pop("_shared", None)
        self.lead_emails.add(record["email"].lower())

    def _personal(self, r: dict[str, Any]) -> str:
        domain = self.rng.choice(FREE_MAIL)
        return f"{_mail(r['first_name'])}.{_mail(r['last_name'])}{self.rng.randrange(100)}" \
               f"@{domain}"

    def _maybe_new_email(self, r: dict[str, Any]) -> None:
        """Half of re-entries come with another address: then the name must carry them."""
        if self.rng.random() < 0.5:
            r["email"] = self._personal(r)

    # --- true duplicates ---------------------------------------------------------------

    def _vary(self, r: dict[str, Any], i: int, kind: str) -> dict[str, Any]:
        crm, rng = self.crowd[i], self.rng
        if kind == "accents":
            plain = strip_accents(r["first_name"]), strip_accents(r["last_name"])
            if plain != (r["first_name"], r["last_name"]):  # marketing drops them
                r["first_name"], r["last_name"] = plain
            else:  # marketing adds them
                r["last_name"] = ACCENTED[r["last_name"]]
            self._maybe_new_email(r)
        elif kind == "typo_first":
            r["first_name"] = _typo(rng, r["first_name"]) if len(r["first_name"]) > 3 else \
                r["first_name"] + "e"
            self._maybe_new_email(r)
        elif kind == "typo_last":
            r["last_name"] = _typo(rng, r["last_name"]) if len(r["last_name"]) > 3 else \
                r["last_name"] + "e"
            self._maybe_new_email(r)
        elif kind == "nickname":
            r["first_name"] = rng.choice(NICKNAMES[r["first_name"]])
            self._maybe_new_email(r)
        elif kind == "swapped":
            r["first_name"], r["last_name"] = r["last_name"], r["first_name"]
            self._maybe_new_email(r)
        elif kind == "company_article":
            core = _strip_legal(crm["company"])
            if rng.random() < 0.5:
                r["company"] = f"The {core}"
            else:
                crm["company"] = f"The {core} LLP"
                r["company"] = core
            self._maybe_new_email(r)
        elif kind == "company_acronym":
            words = rng.sample(ACRONYM_WORDS, 3)
            crm["company"] = " ".join(words)
            r["company"] = "".join(w[0] for w in words) + rng.choice(("", " Corp", " Inc."))
            self._maybe_new_email(r)
        elif kind == "legal_form":
            core = _strip_legal(crm["company"])
            forms = [f for f in LEGAL.get(crm["country"], ("",)) if f and
                     f"{core} {f}" != crm["company"]] or ["Inc."]
            r["company"] = f"{core} {rng.choice(forms)}"
            self._maybe_new_email(r)
        elif kind == "email_new_domain":  # the company moved to a new domain
            local, _, domain = crm["email"].partition("@")
            stem = domain.split(".")[0]
            r["email"] = f"{local}@{stem}-group.{rng.choice(('com', 'io', 'net'))}"
        elif kind == "email_personal":
            r["email"] = self._personal(r)
        elif kind == "gmail":
            local = f"{_mail(crm['first_name'])}.{_mail(crm['last_name'])}{i}"
            crm["email"] = f"{local}@gmail.com"
            self.emails.add(crm["email"])
            r["email"] = rng.choice((local.replace(".", "") + "@gmail.com",
                                     f"{local}+{rng.choice(('news', 'work'))}@gmail.com",
                                     f"{local[:2]}.{local[2:].replace('.', '')}@gmail.com"))
        elif kind == "phone_format":
            r["phone"] = _other_format(rng, crm["phone"], crm["country"])
            self._maybe_new_email(r)
        elif kind == "case":
            r["first_name"], r["last_name"] = _recase(rng, r["first_name"]), \
                _recase(rng, r["last_name"])
            r["company"], r["email"] = _recase(rng, r["company"]), _recase(rng, r["email"])
        else:  # missing_fields
            for key in ("phone", "title", "street", "city", "state", "postal_code", "website"):
                r[key] = ""
            self._maybe_new_email(r)
        return r

    # --- hard non-duplicates -----------------------------------------------------------

    def _stranger(self) -> dict[str, Any]:
        """A new person whose name no CRM person and no other lead of the file has:
        drawn once, never again (a stranger drawn twice gave two leads one name, phone
        and street, labelled as two people)."""
        while True:
            s = dict(self.strangers[self.rng.randrange(len(self.strangers))])
            name = (_mail(s["first_name"]), _mail(s["last_name"]))
            if name not in self.names:
                self.names.add(name)
                return s

    def _other_first(self, first: str) -> str:
        taken = {first, *NICKNAMES.get(first, ())}
        return self.rng.choice([f for f in FIRST if f not in taken and first not in
                                NICKNAMES.get(f, ())])

    def _hard(self, i: int, kind: str) -> dict[str, Any]:
        crm, s = self.crowd[i], self._stranger()
        domain = crm["email"].partition("@")[2]
        work = domain if domain not in FREE_MAIL else crm["company"].split()[0].lower() + ".com"
        colleague = {k: crm[k] for k in ("company", "city", "state", "postal_code", "country",
                                         "website")}
        if kind == "switchboard":  # a colleague on the company's main number
            s.update(colleague, phone=crm["phone"])
            s["email"] = f"{_mail(s['first_name'])}.{_mail(s['last_name'])}@{work}"
        elif kind == "role_mailbox":  # a colleague writing from the shared info@
            crm["email"] = next((m for m in (f"{b}@{work}" for b in ROLE_MAILBOXES)
                                 if m not in self.emails), f"info{i}@{work}")
            self.emails.add(crm["email"])
            s.update(colleague, email=crm["email"], _shared=True)
        elif kind == "namesake":  # the same name at another company
            s.update(first_name=crm["first_name"], last_name=crm["last_name"])
            s["email"] = f"{_mail(s['first_name'])}.{_mail(s['last_name'])}@" \
                         f"{s['email'].partition('@')[2]}"
        elif kind == "relative":  # parent and child: one family name, one address
            s.update({k: crm[k] for k in ("last_name", "street", "city", "state",
                                          "postal_code", "country")})
            s["first_name"] = self._other_first(crm["first_name"])
            s["email"] = self._personal(s)
        else:  # same_name_same_company: two people of one name at one large company
            s.update(colleague, first_name=crm["first_name"], last_name=crm["last_name"])
            s["email"] = f"{_mail(crm['first_name'])}.{_mail(crm['last_name'])}2@{work}"
            s["title"] = "Intern" if crm["title"] != "Intern" else "CFO"
        return s

    def _new(self) -> dict[str, Any]:
        s = self._stranger()
        self.names.add((_mail(s["first_name"]), _mail(s["last_name"])))
        return s


def _other_format(rng: random.Random, phone: str, country: str) -> str:
    """The same number written another way; outside North America often nationally,
    with the trunk 0 and no country code."""
    e164 = phone_key(phone) or phone
    if country in TRUNK_ZERO and not e164.startswith("+1") and rng.random() < 0.6:
        code = next(c for c in ("44", "49", "33", "61", "31", "91", "81", "55")
                    if e164[1:].startswith(c))
        national = "0" + e164[1 + len(code):]
        return f"{national[:4]} {national[4:7]} {national[7:]}"
    start = rng.randrange(7)
    return next((f for s in range(start, start + 7) if (f := format_phone(e164, s)) != phone),
                phone)
