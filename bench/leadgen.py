"""Deterministic, realistic people and leads for the matching benchmarks.

``people(n, seed)`` makes records shaped like a CRM lead (the keys of
``FIELDS``); ``with_duplicates(base, n, seed)`` makes labelled variants of some
of them -- the ways one person reaches a CRM twice -- and hard non-duplicates
(different people who share a name, a company or a mailbox). The same seed
always gives the same records, so a figure can be re-measured.

    base = people(20_000, seed=1)
    incoming = with_duplicates(base, 5_000, seed=2)   # [Labelled(record, duplicate_of, variation)]

Speed matters (the load benchmark uses 1,000,000 records), so columns are drawn
with ``Random.choices`` over precomputed pools and records are built in one pass.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from itertools import accumulate
from typing import Any

FIELDS = ("first_name", "last_name", "email", "phone", "company", "title", "street", "city",
          "state", "postal_code", "country", "website")

# Given names, with the nicknames a person also goes by (a maintained table
# decides at match time; these are the common ones it knows).
FIRST = (
    "James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "William",
    "Elizabeth", "David", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah",
    "Charles", "Karen", "Christopher", "Nancy", "Daniel", "Margaret", "Matthew", "Lisa",
    "Anthony", "Betty", "Mark", "Sandra", "Steven", "Ashley", "Andrew", "Kimberly", "Joshua",
    "Emily", "Kenneth", "Donna", "Kevin", "Michelle", "Brian", "Carol", "George", "Amanda",
    "Edward", "Melissa", "Ronald", "Deborah", "Timothy", "Stephanie", "Jason", "Rebecca",
    "Jeffrey", "Laura", "Ryan", "Sharon", "Jacob", "Cynthia", "Gary", "Kathleen", "Nicholas",
    "Amy", "Eric", "Angela", "Jonathan", "Helen", "Samuel", "Anna", "Benjamin", "Katherine",
    "Alexander", "Victoria", "Patrick", "Olivia", "Sophie", "Lucas", "Emma", "Noah", "Mia",
    "Liam", "Hannah", "Felix", "Clara", "Jonas", "Lea", "Paul", "Marie", "Luca", "Giulia",
    "Matteo", "Chiara", "Pierre", "Camille", "Antoine", "Chloé", "Zoë", "José", "María",
    "Sören", "Jürgen", "Björn", "Ingrid", "Åsa", "Łukasz", "Zoltán", "Renée", "Hélène",
    "François", "Müge", "Çağla", "Siobhán", "Seán", "Niamh", "Aoife", "Raj", "Priya",
    "Arjun", "Ananya", "Wei", "Mei", "Hiroshi", "Yuki", "Min-jun", "Seo-yeon", "Ahmed",
    "Fatima", "Omar", "Aisha", "Dmitri", "Olga", "Ivan", "Svetlana", "Kwame", "Ama",
    "Chidi", "Ngozi", "Thiago", "Beatriz", "Mateo", "Valentina", "Lars", "Freya",
)
NICKNAMES = {
    "James": ("Jim", "Jimmy"), "Robert": ("Bob", "Rob", "Bobby"), "John": ("Jack", "Johnny"),
    "Michael": ("Mike", "Mikey"), "William": ("Bill", "Will", "Billy"),
    "Elizabeth": ("Liz", "Beth", "Betty"), "David": ("Dave",), "Richard": ("Rick", "Dick"),
    "Joseph": ("Joe",), "Thomas": ("Tom", "Tommy"), "Charles": ("Chuck", "Charlie"),
    "Christopher": ("Chris",), "Daniel": ("Dan", "Danny"), "Margaret": ("Maggie", "Peggy"),
    "Matthew": ("Matt",), "Anthony": ("Tony",), "Steven": ("Steve",), "Andrew": ("Andy", "Drew"),
    "Kenneth": ("Ken", "Kenny"), "Edward": ("Ed", "Ted", "Eddie"), "Ronald": ("Ron",),
    "Timothy": ("Tim",), "Jeffrey": ("Jeff",), "Nicholas": ("Nick",), "Samuel": ("Sam",),
    "Benjamin": ("Ben",), "Katherine": ("Kate", "Kathy"), "Alexander": ("Alex",),
    "Patrick": ("Pat",), "Jennifer": ("Jen", "Jenny"), "Patricia": ("Patty", "Trish"),
    "Susan": ("Sue",), "Jessica": ("Jess",), "Kimberly": ("Kim",), "Deborah": ("Debbie",),
    "Rebecca": ("Becky",), "Victoria": ("Vicky",), "Stephanie": ("Steph",),
    "Jonathan": ("Jon",), "Barbara": ("Barb",), "Cynthia": ("Cindy",),
}
LAST = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez",
    "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor",
    "Moore", "Jackson", "Martin", "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez",
    "Clark", "Ramirez", "Lewis", "Robinson", "Walker", "Young", "Allen", "King", "Wright",
    "Scott", "Torres", "Nguyen", "Hill", "Flores", "Green", "Adams", "Nelson", "Baker", "Hall",
    "Rivera", "Campbell", "Mitchell", "Carter", "Roberts", "Gomez", "Phillips", "Evans",
    "Turner", "Diaz", "Parker", "Cruz", "Edwards", "Collins", "Reyes", "Stewart", "Morris",
    "Morales", "Murphy", "Cook", "Rogers", "Gutierrez", "Ortiz", "Morgan", "Cooper", "Peterson",
    "Bailey", "Reed", "Kelly", "Howard", "Ramos", "Kim", "Cox", "Ward", "Richardson", "Watson",
    "Brooks", "Chavez", "Wood", "James", "Bennett", "Gray", "Mendoza", "Ruiz", "Hughes",
    "Price", "Alvarez", "Castillo", "Sanders", "Patel", "Myers", "Long", "Ross", "Foster",
    "Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker",
    "Schäfer", "Köhler", "Groß", "Dubois", "Lefèvre", "Moreau", "Laurent", "Fournier",
    "Girard", "Bonnet", "Rossi", "Russo", "Ferrari", "Esposito", "Bianchi", "Romano",
    "Colombo", "Ricci", "García", "Fernández", "González", "Rodríguez", "López", "Martínez",
    "Sánchez", "Pérez", "Jiménez", "Núñez", "Kowalski", "Wiśniewski", "Nowak", "Dąbrowski",
    "Novák", "Dvořák", "Svensson", "Johansson", "Åberg", "Lindqvist", "Nielsen", "Jensen",
    "Hansen", "Østergaard", "Virtanen", "Korhonen", "Nagy", "Horváth", "Kovács", "Yılmaz",
    "Kaya", "Demir", "Öztürk", "O'Brien", "O'Connor", "McCarthy", "MacDonald", "Murray",
    "Kennedy", "Sharma", "Singh", "Gupta", "Kumar", "Reddy", "Iyer", "Wang", "Li", "Zhang",
    "Liu", "Chen", "Yang", "Huang", "Zhao", "Wu", "Zhou", "Tanaka", "Suzuki", "Takahashi",
    "Watanabe", "Ito", "Yamamoto", "Nakamura", "Park", "Choi", "Jung", "Kang", "Cho",
    "Ivanov", "Smirnov", "Kuznetsov", "Popov", "Petrov", "Volkov", "Okafor", "Mensah",
    "Adeyemi", "Silva", "Santos", "Oliveira", "Souza", "Costa", "Pereira", "Van der Berg",
    "De Vries", "Van Dijk", "Bakker", "Janssen", "Visser", "Smit", "Meijer", "De Jong",
    "Abbott", "Barrett", "Caldwell", "Dalton", "Everett", "Fairbanks", "Gallagher", "Hartley",
    "Ingram", "Jennings", "Kavanagh", "Langley", "Merriweather", "Norwood", "Oakley",
    "Pemberton", "Quinlan", "Radcliffe", "Sutherland", "Thornton", "Underwood", "Vaughan",
    "Whitaker", "Yardley", "Zimmerman",
)
SYLLABLES = ("ac", "me", "glo", "bex", "ini", "tech", "um", "brel", "hoo", "li", "stark",
             "way", "ne", "won", "ka", "vand", "el", "ay", "cy", "ber", "dyne", "sol", "ar",
             "nex", "ova", "tri", "gen", "ix", "lum", "ora", "vel", "tor", "quant", "zen",
             "pix", "ly", "blu", "ster", "kor", "tal", "mi", "ra", "den", "fal", "con", "syn",
             "apt", "io", "nor", "dic", "ter", "ra", "velo", "cit", "ron")
INDUSTRY = ("", "", "", "Systems", "Analytics", "Labs", "Software", "Logistics", "Health",
            "Energy", "Capital", "Foods", "Robotics", "Consulting", "Media", "Networks",
            "Solutions", "Dynamics", "Partners", "Industries", "Technologies", "Bio")
LEGAL = {  # country → legal forms (and "" for none), as people write them
    "US": ("", "", "Inc.", "Inc", "LLC", "Corp.", "Corporation", "Co."),
    "CA": ("", "Inc.", "Ltd.", "Corp."),
    "GB": ("", "Ltd", "Ltd.", "Limited", "PLC", "LLP"),
    "DE": ("", "GmbH", "AG", "GmbH & Co. KG", "UG"),
    "FR": ("", "SA", "SAS", "SARL"),
    "AU": ("", "Pty Ltd", "Pty. Ltd.", "Ltd"),
    "IN": ("", "Pvt. Ltd.", "Private Limited", "Ltd."),
    "NL": ("", "B.V.", "BV", "N.V."),
    "BR": ("", "Ltda.", "S.A."),
    "JP": ("", "K.K.", "Co., Ltd."),
}
COUNTRIES = ("US", "US", "US", "US", "US", "CA", "GB", "GB", "DE", "DE", "FR", "AU", "IN",
             "NL", "BR", "JP")
# country → (calling code, national number length, first-digit choices, places)
PLACES: dict[str, tuple[str, int, str, tuple[tuple[str, str, str], ...]]] = {
    "US": ("1", 10, "23456789", (("San Francisco", "CA", "94107"), ("New York", "NY", "10013"),
                                 ("Austin", "TX", "78701"), ("Chicago", "IL", "60607"),
                                 ("Seattle", "WA", "98101"), ("Boston", "MA", "02110"),
                                 ("Denver", "CO", "80202"), ("Atlanta", "GA", "30303"))),
    "CA": ("1", 10, "2456789", (("Toronto", "ON", "M5V 2T6"), ("Montréal", "QC", "H2Y 1C6"),
                                ("Vancouver", "BC", "V6B 1A1"))),
    "GB": ("44", 10, "12378", (("London", "", "EC1A 1BB"), ("Manchester", "", "M1 1AE"),
                               ("Edinburgh", "", "EH1 1YZ"))),
    "DE": ("49", 10, "23456789", (("Berlin", "BE", "10115"), ("München", "BY", "80331"),
                                  ("Köln", "NW", "50667"), ("Düsseldorf", "NW", "40213"))),
    "FR": ("33", 9, "12345", (("Paris", "", "75002"), ("Lyon", "", "69002"),
                              ("Besançon", "", "25000"))),
    "AU": ("61", 9, "23478", (("Sydney", "NSW", "2000"), ("Melbourne", "VIC", "3000"))),
    "IN": ("91", 10, "6789", (("Bengaluru", "KA", "560001"), ("Mumbai", "MH", "400001"))),
    "NL": ("31", 9, "1234567", (("Amsterdam", "NH", "1012 AB"), ("Utrecht", "UT", "3511 AA"))),
    "BR": ("55", 10, "1234567", (("São Paulo", "SP", "01310-100"),
                                 ("Rio de Janeiro", "RJ", "20040-002"))),
    "JP": ("81", 10, "3456789", (("Tōkyō", "", "100-0001"), ("Ōsaka", "", "530-0001"))),
}
STREETS = ("Main", "Oak", "Maple", "Cedar", "Elm", "Park", "Lake", "Hill", "Market", "Mission",
           "Harbour", "King", "Queen", "Station", "Church", "Mill", "Bahnhof", "Linden",
           "Rue de la Paix", "Kurfürsten", "Sakura", "Victoria", "George", "Collins",
           "Bourke", "Pitt")
STREET_KIND = ("Street", "St", "Avenue", "Ave", "Road", "Rd", "Boulevard", "Lane", "Way")
TITLES = ("CEO", "CTO", "CFO", "VP Sales", "VP Marketing", "Head of Operations",
          "Marketing Manager", "Sales Director", "Software Engineer", "Product Manager",
          "Procurement Lead", "Office Manager", "Founder", "Director of IT", "Analyst", "")
FREE_MAIL = ("gmail.com", "gmail.com", "gmail.com", "yahoo.com", "outlook.com", "hotmail.com",
             "icloud.com", "gmx.de", "web.de", "orange.fr", "yahoo.co.uk", "proton.me")
ROLE_MAILBOXES = ("info", "sales", "contact", "hello", "office")
TLD = {"US": ".com", "CA": ".ca", "GB": ".co.uk", "DE": ".de", "FR": ".fr", "AU": ".com.au",
       "IN": ".in", "NL": ".nl", "BR": ".com.br", "JP": ".co.jp"}
_ASCII = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "é": "e", "è": "e",
                        "ë": "e", "á": "a", "í": "i", "ó": "o", "ú": "u", "ñ": "n", "å": "a",
                        "ø": "o", "ł": "l", "ś": "s", "ą": "a", "ř": "r", "č": "c", "ı": "i",
                        "ğ": "g", "ş": "s", "ç": "c", "ō": "o", "ã": "a", "'": "", " ": ""})


def _mail(text: str) -> str:
    return text.lower().translate(_ASCII)


@dataclass(frozen=True)
class Company:
    name: str        # as the company writes itself, with its legal form
    core: str        # the name without a legal form
    domain: str
    country: str
    phone: str       # the switchboard, E.164


def companies(n: int, seed: int) -> list[Company]:
    rng = random.Random(f"companies-{seed}")
    found: dict[str, Company] = {}
    while len(found) < n:
        core = "".join(rng.choice(SYLLABLES) for _ in range(rng.choice((2, 2, 3)))).capitalize()
        industry = rng.choice(INDUSTRY)
        full = f"{core} {industry}".strip()
        if full.lower() in found:
            continue
        country = rng.choice(COUNTRIES)
        legal = rng.choice(LEGAL[country])
        domain = _mail(full.replace(" ", "-" if rng.random() < 0.3 else "")) + TLD[country]
        found[full.lower()] = Company(f"{full} {legal}".strip(), full, domain, country,
                                      _e164(rng, country))
    return list(found.values())


def _e164(rng: random.Random, country: str) -> str:
    code, length, first, _ = PLACES[country]
    national = rng.choice(first) + str(rng.randrange(10 ** (length - 1))).zfill(length - 1)
    return f"+{code}{national}"


def format_phone(e164: str, style: int) -> str:
    """One number written the ways people write it; all parse back to ``e164``
    (national styles only for North American numbers, read with region US)."""
    if e164.startswith("+1"):
        n = e164[2:]
        return (f"({n[:3]}) {n[3:6]}-{n[6:]}", f"{n[:3]}-{n[3:6]}-{n[6:]}",
                f"{n[:3]}.{n[3:6]}.{n[6:]}", f"+1 {n[:3]} {n[3:6]} {n[6:]}", e164,
                f"1-{n[:3]}-{n[3:6]}-{n[6:]}", f"+1 ({n[:3]}) {n[3:6]}-{n[6:]}")[style % 7]
    for code in ("44", "49", "33", "61", "91", "31", "55", "81"):
        if e164[1:].startswith(code):
            n = e164[1 + len(code):]
            return (f"+{code} {n[:2]} {n[2:6]} {n[6:]}", e164, f"+{code} {n}",
                    f"+{code} ({n[:3]}) {n[3:]}", f"+{code}-{n[:3]}-{n[3:]}",
                    f"+{code} {n[:3]} {n[3:6]} {n[6:]}", f"+{code}.{n}")[style % 7]
    return e164


def people(n: int, seed: int = 0) -> list[dict[str, Any]]:
    """``n`` distinct people at ``max(n // 8, 50)`` companies (with a few
    free-mail and role-mailbox addresses), as CRM-lead-shaped dicts."""
    rng = random.Random(f"people-{seed}")
    firms = companies(max(n // 8, 50), seed)
    first_w = list(accumulate(1.0 / (1 + i * 0.05) for i in range(len(FIRST))))
    last_w = list(accumulate(1.0 / (1 + i * 0.03) for i in range(len(LAST))))
    firsts = rng.choices(FIRST, cum_weights=first_w, k=n)
    lasts = rng.choices(LAST, cum_weights=last_w, k=n)
    works = rng.choices(firms, k=n)
    titles = rng.choices(TITLES, k=n)
    streets = rng.choices(STREETS, k=n)
    kinds = rng.choices(STREET_KIND, k=n)
    rolls = [rng.random() for _ in range(n)]
    numbers = [rng.randrange(10 ** 9) for _ in range(n)]
    free = rng.choices(FREE_MAIL, k=n)
    out: list[dict[str, Any]] = []
    append = out.append
    for i in range(n):
        first, last, firm, roll, number = firsts[i], lasts[i], works[i], rolls[i], numbers[i]
        country = firm.country
        code, length, digits, places = PLACES[country]
        f, la = _mail(first), _mail(last)
        pattern = number % 5
        if roll < 0.25:  # a private address
            local = (f"{f}.{la}", f"{f}{la}", f"{f[0]}{la}", f"{f}_{la}", f"{la}.{f}")[pattern]
            email = f"{local}{number % 997}@{free[i]}"
        elif roll < 0.27:  # a role mailbox that several people use
            email = f"{ROLE_MAILBOXES[pattern]}@{firm.domain}"
        else:
            local = (f"{f}.{la}", f"{f}{la[0]}", f"{f[0]}{la}", f"{f}", f"{f}.{la}")[pattern]
            email = f"{local}@{firm.domain}"
        if roll < 0.33 and roll >= 0.27 or roll < 0.03:  # the switchboard, not a direct line
            e164 = firm.phone
        else:
            national = digits[number % len(digits)] + str(number % 10 ** (length - 1)).zfill(
                length - 1)
            e164 = f"+{code}{national}"
        city, state, postal = places[number % len(places)]
        append({
            "first_name": first, "last_name": last, "email": email,
            "phone": format_phone(e164, number // 7), "company": firm.name,
            "title": titles[i],
            "street": f"{1 + number % 2999} {streets[i]} {kinds[i]}",
            "city": city, "state": state, "postal_code": postal, "country": country,
            "website": f"https://www.{firm.domain}" if roll > 0.6 else "",
        })
    return out


# -- labelled variants ---------------------------------------------------------
@dataclass(frozen=True)
class Labelled:
    record: dict[str, Any]
    duplicate_of: int | None
    """Index into ``base`` of the person this record is, or None (a different person)."""
    variation: str
    near: int | None = None
    """For a hard non-duplicate: the base record it resembles."""


def _typo(rng: random.Random, text: str) -> str:
    if len(text) < 4:
        return text
    i = rng.randrange(1, len(text) - 1)
    op = rng.randrange(4)
    letter = rng.choice("aeiourstnlm")
    if op == 0:
        return text[:i] + text[i + 1:]                      # dropped
    if op == 1:
        return text[:i] + letter + text[i:]                 # inserted
    if op == 2:
        return text[:i] + letter + text[i + 1:]             # replaced
    return text[:i - 1] + text[i] + text[i - 1] + text[i + 1:]  # transposed


_FORMS = sorted({f for forms in LEGAL.values() for f in forms if f}, key=len, reverse=True)


def _strip_legal(company: str) -> str:
    for form in _FORMS:  # longest first: "Pty Ltd" before "Ltd"
        if company.endswith(" " + form):
            return company[: -len(form) - 1]
    return company


def _recase(rng: random.Random, text: str) -> str:
    return rng.choice((str.upper, str.lower, str.title))(text)


def _phone_again(rng: random.Random, phone: str) -> str:
    from connector.matching.keys import phone_key  # the benchmark's one dependency on leadsync

    e164 = phone_key(phone) or phone
    start = rng.randrange(7)
    return next((f for s in range(start, start + 7) if (f := format_phone(e164, s)) != phone),
                phone)


def _gmail_variant(rng: random.Random, email: str) -> str:
    local, _, domain = email.partition("@")
    if domain != "gmail.com":
        return email
    bare = local.replace(".", "")
    choice = rng.randrange(3)
    if choice == 0 and len(bare) > 3:
        cut = rng.randrange(1, len(bare) - 1)
        return f"{bare[:cut]}.{bare[cut:]}@gmail.com"
    if choice == 1:
        return f"{local}+{rng.choice(('news', 'crm', 'work', 'webinar'))}@gmail.com"
    return f"{local}@googlemail.com"


VARIATIONS = ("typo_last", "typo_first", "swapped", "case", "gmail", "phone_format",
              "company_suffix", "nickname", "email_changed", "unicode", "combined",
              "swapped_typo", "nickname_new_email")
HARD = ("same_name_other_company", "shared_mailbox", "same_company_other_person", "relative")


def with_duplicates(base: list[dict[str, Any]], n: int, seed: int = 0,
                    hard_share: float = 0.3) -> list[Labelled]:
    """``n`` incoming records: about ``1 - hard_share`` of them re-entries of a
    base person, each changed the way that person would be re-entered (the
    variation is named), the rest hard non-duplicates. Every duplicate keeps
    what a careful human would go by (the mailbox, or the name with the
    company or phone); every non-duplicate differs in what identifies a person."""
    rng = random.Random(f"dupes-{seed}")
    gmail = [i for i, p in enumerate(base) if p["email"].endswith("@gmail.com")]
    roles = [i for i, p in enumerate(base)
             if p["email"].split("@")[0] in ROLE_MAILBOXES]
    nick = [i for i, p in enumerate(base) if p["first_name"] in NICKNAMES]
    accented = [i for i, p in enumerate(base)
                if not (p["first_name"] + p["last_name"]).isascii()]
    others = people(max(len(base) // 4, 200), seed + 7_919)  # strangers to borrow from
    known = {_who(p) for p in base}
    out: list[Labelled] = []
    for k in range(n):
        if rng.random() < hard_share:
            for _ in range(20):  # a stranger who happens to be a namesake colleague is
                hard = _hard(rng, base, roles, others, HARD[k % len(HARD)])  # not one
                if _who(hard.record) not in known:
                    break
            out.append(hard)
            continue
        variation = VARIATIONS[k % len(VARIATIONS)]
        pool = {"gmail": gmail, "nickname": nick, "nickname_new_email": nick,
                "unicode": accented}.get(variation)
        i = rng.choice(pool) if pool else rng.randrange(len(base))
        record = _vary(rng, dict(base[i]), variation)
        if rng.random() < 0.35:  # and something else drifted too
            record = _drift(rng, record)
        out.append(Labelled(record, i, variation))
    return out


def _who(r: dict[str, Any]) -> tuple[str, str, str]:
    return (_mail(r["first_name"]), _mail(r["last_name"]), _mail(_strip_legal(r["company"])))


def _drift(rng: random.Random, r: dict[str, Any]) -> dict[str, Any]:
    """One more small change that leaves the person recognisable."""
    change = rng.randrange(4)
    if change == 0:
        r["company"] = _recase(rng, _strip_legal(r["company"]))
    elif change == 1 and r["phone"]:
        r["phone"] = _phone_again(rng, r["phone"])
    elif change == 2:
        r["first_name"] = _recase(rng, r["first_name"])
    else:
        r["city"], r["postal_code"] = _recase(rng, r["city"]), r["postal_code"].replace(" ", "")
    return r


def _vary(rng: random.Random, r: dict[str, Any], variation: str) -> dict[str, Any]:
    if variation == "typo_last":
        r["last_name"] = _typo(rng, r["last_name"])
        r["phone"] = _phone_again(rng, r["phone"])
    elif variation == "typo_first":
        r["first_name"] = _typo(rng, r["first_name"])
        r["email"] = ""  # typed without the email: name, company and phone remain
    elif variation == "swapped":
        r["first_name"], r["last_name"] = r["last_name"], r["first_name"]
        if rng.random() < 0.5:
            r["email"] = ""
    elif variation == "case":
        r["first_name"] = _recase(rng, r["first_name"])
        r["last_name"] = _recase(rng, r["last_name"])
        r["email"], r["company"] = _recase(rng, r["email"]), _recase(rng, r["company"])
    elif variation == "gmail":
        r["email"] = _gmail_variant(rng, r["email"])
        r["company"] = _strip_legal(r["company"]) if rng.random() < 0.5 else r["company"]
    elif variation == "phone_format":
        r["phone"] = _phone_again(rng, r["phone"])
        r["email"] = ""
    elif variation == "company_suffix":
        core = _strip_legal(r["company"])
        r["company"] = rng.choice((core, core.upper() + " Inc.", f"{core} GmbH", f"The {core}",
                                   f"{core}, LLC", f"{core} Ltd", core.lower()))
        r["email"] = "" if rng.random() < 0.5 else r["email"]
    elif variation == "nickname":
        r["first_name"] = rng.choice(NICKNAMES[r["first_name"]])
        if rng.random() < 0.7:
            r["email"] = ""
    elif variation == "email_changed":  # a new mailbox: name, company and phone identify her
        local = _mail(r["first_name"])[:1] + _mail(r["last_name"])
        r["email"] = f"{local}.{rng.randrange(100)}@{rng.choice(FREE_MAIL)}"
    elif variation == "unicode":
        r["first_name"] = _mail(r["first_name"]).capitalize() if rng.random() < 0.5 else \
            r["first_name"]
        r["last_name"] = r["last_name"].translate(_ASCII).capitalize()
    elif variation == "swapped_typo":
        r["first_name"], r["last_name"] = _typo(rng, r["last_name"]), r["first_name"]
    elif variation == "nickname_new_email":
        r["first_name"] = rng.choice(NICKNAMES[r["first_name"]])
        r["email"] = f"{_mail(r['first_name'])}{rng.randrange(100)}@{rng.choice(FREE_MAIL)}"
    else:  # combined: several small changes at once
        r["last_name"] = _typo(rng, r["last_name"])
        r["phone"] = _phone_again(rng, r["phone"])
        r["company"] = _strip_legal(r["company"]).upper()
        r["first_name"] = r["first_name"].lower()
    for key in ("title", "street"):  # what drifts between entries regardless
        if rng.random() < 0.3:
            r[key] = ""
    return r


def _hard(rng: random.Random, base: list[dict[str, Any]], roles: list[int],
          others: list[dict[str, Any]], kind: str) -> Labelled:
    stranger = dict(rng.choice(others))
    if kind == "same_name_other_company":  # a namesake elsewhere
        i = rng.randrange(len(base))
        stranger["first_name"], stranger["last_name"] = base[i]["first_name"], base[i]["last_name"]
        if base[i]["company"] == stranger["company"]:
            stranger["company"] = "Other " + stranger["company"]
        if base[i]["email"] == stranger["email"]:
            stranger["email"] = "x" + stranger["email"]
        return Labelled(stranger, None, kind, i)
    if kind == "shared_mailbox" and roles:  # info@ at the same firm, someone else
        i = rng.choice(roles)
        stranger.update({k: base[i][k] for k in ("email", "company", "website", "city", "state",
                                                 "postal_code", "country")})
        if _mail(stranger["last_name"]) == _mail(base[i]["last_name"]):
            stranger["last_name"] = "Other" + stranger["last_name"]
        return Labelled(stranger, None, "shared_mailbox", i)
    if kind == "relative":  # same family name and home phone, another first name
        i = rng.randrange(len(base))
        stranger.update({k: base[i][k] for k in ("last_name", "phone", "street", "city",
                                                 "state", "postal_code", "country")})
        if _mail(stranger["first_name"]) == _mail(base[i]["first_name"]):
            stranger["first_name"] = rng.choice([f for f in FIRST if f != base[i]["first_name"]])
        if stranger["email"] == base[i]["email"]:
            stranger["email"] = "x" + stranger["email"]
        return Labelled(stranger, None, kind, i)
    # a colleague: same firm, maybe the same switchboard number
    i = rng.randrange(len(base))
    stranger.update({k: base[i][k] for k in ("company", "website", "city", "state",
                                             "postal_code", "country")})
    if rng.random() < 0.3:
        stranger["phone"] = base[i]["phone"]
    local, _, domain = base[i]["email"].partition("@")
    if stranger["first_name"] == base[i]["first_name"]:
        stranger["first_name"] = rng.choice([f for f in FIRST if f != base[i]["first_name"]])
    if _mail(stranger["last_name"]) == _mail(base[i]["last_name"]):
        stranger["last_name"] = "Other" + stranger["last_name"]
    if domain and not any(domain == f for f in FREE_MAIL):
        name = f"{_mail(stranger['first_name'])}.{_mail(stranger['last_name'])}"
        stranger["email"] = f"{name}@{domain}"
    return Labelled(stranger, None, "same_company_other_person", i)
