#!/usr/bin/env python3
"""Generate the demo lead export used by the leadsync demo and tests.

Writes ``examples/leads.csv`` (and a small ``examples/leads.jsonl``) holding
realistic B2B leads with their marketing activities, as a marketing-automation
store would export them: messy spellings, mixed phone formats, duplicates and a
handful of deliberately bad rows.

The output is fully deterministic: it depends only on ``--seed`` and
``--count`` (standard-library ``random`` only, no network, no Faker).

Usage::

    python examples/generate_leads.py [--out examples/leads.csv] [--seed N] [--count N]

All people, companies and domains are invented. Company e-mail domains use the
reserved ``.example`` TLD (RFC 2606); phone numbers sit in the ranges that
regulators reserve for fiction wherever a country publishes one.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import sys
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

# --------------------------------------------------------------------------- #
# Constants
# --------------------------------------------------------------------------- #

COLUMNS: tuple[str, ...] = (
    "email",
    "first_name",
    "last_name",
    "company",
    "title",
    "phone",
    "country",
    "state",
    "city",
    "postal_code",
    "industry",
    "employees",
    "annual_revenue",
    "website",
    "lead_source",
    "created_at",
    "updated_at",
    "activities",
)

DEFAULT_SEED = 20261120
DEFAULT_COUNT = 350
JSONL_COUNT = 20
#: Everything happens in the 60 days before this instant (exclusive).
REFERENCE_NOW = datetime(2026, 11, 20, tzinfo=UTC)
WINDOW_START = REFERENCE_NOW - timedelta(days=60)
#: Latest instant any generated timestamp may take.
LATEST = REFERENCE_NOW - timedelta(minutes=1)

DUPLICATE_RATE = 0.05
HOT_RATE = 0.40  # share of clean, unique leads with strong engagement
WARM_RATE = 0.17  # some engagement, no form fill; the rest is cold
HARD_DUPLICATES = ("email_case", "email_case_phone", "gmail_dots", "gmail_dots_phone", "alias")

ACTIVITY_KINDS = ("page_visit", "form_fill", "email_click")
LEAD_SOURCES: tuple[tuple[str, int], ...] = (
    ("Web", 40),
    ("Webinar", 15),
    ("Trade Show", 12),
    ("Partner Referral", 10),
    ("Purchased List", 13),
    ("Other", 10),
)

LONG_COMPANY_NAME = (
    "Consolidated Regional Cooperative of Independent Agricultural Producers, Processors, "
    "Cold-Chain Distributors and Allied Logistics Service Providers of the Greater Northern "
    "Plains, Prairie Provinces and Upper Midwest (Including All Affiliated Subsidiaries, "
    "Joint Ventures and Associated Trading Partners), Incorporated"
)
SALESFORCE_TEXT_LIMIT = 255

# --------------------------------------------------------------------------- #
# Activity vocabulary (no detail may contain "|" or ";")
# --------------------------------------------------------------------------- #

# The data tables below are laid out by hand; keep the formatter out.
# fmt: off

LOW_INTENT_PAGES = (
    "/", "/blog", "/blog/lead-scoring-basics", "/blog/crm-data-hygiene-checklist",
    "/blog/why-sales-ignores-mqls", "/blog/marketing-ops-glossary", "/about", "/careers", "/events",
    "/resources", "/partners", "/legal/privacy", "/?utm_source=linkedin&utm_medium=social",
)
MID_INTENT_PAGES = (
    "/product", "/product/lead-routing", "/product/integrations/salesforce",
    "/product/integrations/hubspot", "/customers", "/case-studies/northwind-logistics",
    "/case-studies/bluepeak-software", "/docs/getting-started", "/security",
    "/compare/spreadsheets",
)
HIGH_INTENT_PAGES = (
    "/pricing", "/pricing", "/pricing?plan=enterprise", "/pricing/enterprise", "/demo", "/demo",
    "/pricing/compare-plans", "/pricing?utm_source=google&utm_medium=cpc&utm_campaign=brand",
)
HIGH_INTENT_FORMS = (
    "Contact sales", "Contact sales", "Request a demo", "Request a demo", "Free trial signup",
    "Pricing quote request", "Talk to an expert", "ROI calculator: email my results",
    'Download: "State of RevOps 2026" report',
)
WEBINAR_FORMS = (
    "Webinar registration: Pipeline hygiene 101",
    "Webinar registration: Lead routing that sales trusts",
)
EMAIL_CAMPAIGNS = (
    "Webinar invite", "Webinar replay", "Product update: October 2026",
    "Case study: how Northwind cut lead response time", "Newsletter – October 2026",
    "Newsletter – November 2026", "Event invite: Revenue Ops Summit, Berlin",
    "Nurture #3: ROI calculator", "Pricing follow-up", "Trial reminder: 3 days left",
)
SOFT_CAMPAIGNS = EMAIL_CAMPAIGNS[:7]

# --------------------------------------------------------------------------- #
# Firmographics
# --------------------------------------------------------------------------- #

#: (company-name word, Salesforce standard Industry picklist value)
SECTORS_EN: tuple[tuple[str, str], ...] = (
    ("Software", "Technology"), ("Software", "Technology"), ("Analytics", "Technology"),
    ("Cloud", "Technology"), ("Labs", "Technology"), ("Security", "Technology"),
    ("Data", "Technology"), ("Robotics", "Machinery"), ("Manufacturing", "Manufacturing"),
    ("Industries", "Manufacturing"), ("Logistics", "Transportation"), ("Freight", "Shipping"),
    ("Health", "Healthcare"), ("Biotech", "Biotechnology"), ("Capital", "Finance"),
    ("Payments", "Finance"), ("Bank", "Banking"), ("Insurance", "Insurance"),
    ("Networks", "Telecommunications"), ("Telecom", "Telecommunications"),
    ("Foods", "Food & Beverage"), ("Energy", "Energy"), ("Learning", "Education"),
    ("Consulting", "Consulting"), ("Partners", "Consulting"), ("Media", "Media"),
    ("Outfitters", "Retail"), ("Apparel", "Apparel"), ("Hotels", "Hospitality"),
    ("Construction", "Construction"), ("Chemicals", "Chemicals"), ("Electronics", "Electronics"),
    ("Engineering", "Engineering"), ("Studios", "Entertainment"), ("Farms", "Agriculture"),
    ("Utilities", "Utilities"),
)
STEMS_EN = (
    "Acme", "Northwind", "Bluepeak", "Brightline", "Cobalt", "Crestview", "Driftwood", "Evergreen",
    "Foxglove", "Granite", "Harborlight", "Ironclad", "Juniper", "Keystone", "Lumen", "Meridian",
    "Nimbus", "Oakridge", "Pinnacle", "Quarry", "Redwood", "Silverline", "Tidewater", "Vantage",
    "Willowbrook", "Zephyr", "Alder", "Beacon", "Cascade", "Copperleaf", "Fairhaven", "Gridline",
    "Highmark", "Larkspur", "Mesa", "Northstar", "Parallax", "Riverbend", "Trailhead",
    "Bramblewood", "Kestrel", "Ashford", "Sable Creek",
)
TITLES_EN = (
    "CEO", "Founder & CEO", "CTO", "CFO", "COO", "Chief Revenue Officer", "VP of Sales",
    "VP, Marketing", "VP Engineering", "Head of IT", "Head of Growth", "Head of Revenue Operations",
    "Director of Marketing", "Director of IT", "Director, Demand Generation",
    "Sales Operations Manager", "Marketing Operations Manager", "Procurement Manager", "IT Manager",
    "Operations Manager", "Product Manager", "Sr. Product Manager", "Software Engineer",
    "Senior Data Analyst", "Business Analyst", "Marketing Coordinator", "Account Executive",
    "SDR Team Lead", "CRM Administrator", "Salesforce Admin", "RevOps Analyst", "Office Manager",
    "Consultant", "Managing Director", "Plant Manager", "Supply Chain Director",
    "Head of Customer Success", "Solutions Architect", "IT Director — EMEA",
)
SENIOR_TITLES = (
    "VP of Sales", "VP, Marketing", "Head of Revenue Operations", "Director of IT",
    "Chief Revenue Officer", "Head of Growth", "Director, Demand Generation", "CTO",
    "Senior Director, Sales Operations", "VP Operations",
)
EMPLOYEE_BUCKETS: tuple[tuple[int, int, int], ...] = (
    (2, 10, 8), (11, 50, 20), (51, 200, 25), (201, 500, 17), (501, 1000, 10), (1001, 5000, 12),
    (5001, 20000, 5), (20001, 120000, 3),
)
PERSONAL_DOMAINS_DEFAULT = ("gmail.com", "gmail.com", "outlook.com", "hotmail.com", "yahoo.com")

# --------------------------------------------------------------------------- #
# Countries
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class City:
    names: tuple[str, ...]  # spellings; the first is the usual one
    state_code: str
    state_name: str
    postal: str  # pattern: '#' digit, '@' letter, anything else literal
    area: str  # key for the phone generator


@dataclass(frozen=True)
class Country:
    code: str
    weight: int
    spellings: tuple[tuple[str, int], ...]
    cities: tuple[City, ...]
    first_names: tuple[str, ...]
    last_names: tuple[str, ...]
    stems: tuple[str, ...]
    sectors: tuple[tuple[str, str], ...]
    suffixes: tuple[tuple[str, int], ...]
    state_style: str  # code_or_name | code | name | sometimes | none
    personal_domains: tuple[str, ...] = PERSONAL_DOMAINS_DEFAULT
    local_titles: tuple[str, ...] = ()
    local_forms: tuple[str, ...] = ()
    german_translit: bool = False


def _c(names: str | tuple[str, ...], code: str, name: str, postal: str, area: str) -> City:
    return City(names if isinstance(names, tuple) else (names,), code, name, postal, area)


COUNTRIES: tuple[Country, ...] = (
    Country(
        code="US",
        weight=40,
        spellings=(
            ("United States", 5), ("USA", 4), ("US", 4), ("United States of America", 1),
            ("U.S.", 1),
        ),
        cities=(
            _c("San Francisco", "CA", "California", "941##", "415"),
            _c(("New York", "New York City", "NYC"), "NY", "New York", "100##", "212"),
            _c("Austin", "TX", "Texas", "787##", "512"),
            _c("Boston", "MA", "Massachusetts", "021##", "617"),
            _c("Chicago", "IL", "Illinois", "606##", "312"),
            _c("Seattle", "WA", "Washington", "981##", "206"),
            _c("Denver", "CO", "Colorado", "802##", "303"),
            _c("Atlanta", "GA", "Georgia", "303##", "404"),
            _c("Raleigh", "NC", "North Carolina", "276##", "919"),
            _c("Portland", "OR", "Oregon", "972##", "503"),
            _c("Miami", "FL", "Florida", "331##", "305"),
            _c("Salt Lake City", "UT", "Utah", "841##", "801"),
            _c("Pittsburgh", "PA", "Pennsylvania", "152##", "412"),
            _c("Minneapolis", "MN", "Minnesota", "554##", "612"),
            _c("Newark", "NJ", "New Jersey", "071##", "973"),
        ),
        first_names=(
            "James", "Mary", "John", "Patricia", "Michael", "Jennifer", "David", "Linda", "Chris",
            "Ashley", "Tyler", "Brianna", "DeShawn", "Keisha", "Marcus", "Megan", "Kevin", "Lauren",
            "Brandon", "Emily", "Jamal", "Sarah", "Ryan", "Nicole", "Ethan", "Olivia", "José",
            "Ana", "Luis", "Priya", "Wei", "Mei", "Zoë", "Mary-Kate", "Bobbie Jo", "Hannah",
            "Caleb", "Destiny", "Trevor", "Gabriela",
        ),
        last_names=(
            "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis",
            "Rodriguez", "Martinez", "Hernández", "Lopez", "Wilson", "Anderson", "Thomas", "Taylor",
            "Moore", "Jackson", "Lee", "Thompson", "White", "Harris", "Clark", "Robinson", "Walker",
            "O'Brien", "O'Connor", "D'Angelo", "McAllister", "Nguyen", "Kim", "Patel", "Chen",
            "Washington", "Smith-Jones", "Carter-Reed", "DiMaggio", "Kowalski", "Okonkwo", "Yamada",
        ),
        stems=STEMS_EN,
        sectors=SECTORS_EN,
        suffixes=(("Inc.", 6), (", Inc.", 2), ("LLC", 4), ("Corp.", 2), ("Inc", 1), ("Co.", 1)),
        state_style="code_or_name",
    ),
    Country(
        code="CA",
        weight=5,
        spellings=(("Canada", 6), ("CAN", 1)),
        cities=(
            _c("Toronto", "ON", "Ontario", "M5V #@#", "416"),
            _c("Vancouver", "BC", "British Columbia", "V6B #@#", "604"),
            _c(("Montréal", "Montreal"), "QC", "Québec", "H2Y #@#", "514"),
            _c("Calgary", "AB", "Alberta", "T2P #@#", "403"),
            _c("Ottawa", "ON", "Ontario", "K1P #@#", "613"),
        ),
        first_names=(
            "Liam", "Emma", "Étienne", "Geneviève", "Noah", "Olivia", "Mathieu", "Chloé", "Connor",
            "Avery", "Jean-François", "Marie-Ève", "Harpreet", "Mackenzie",
        ),
        last_names=(
            "Tremblay", "Gagnon", "Roy", "Côté", "Bouchard", "Smith", "Brown", "MacLeod", "Wong",
            "Singh", "O'Reilly", "Lévesque", "Gauthier-Bélanger", "Campbell",
        ),
        stems=STEMS_EN,
        sectors=SECTORS_EN,
        suffixes=(("Inc.", 4), ("Ltd.", 2), ("Corp.", 1)),
        state_style="code_or_name",
    ),
    Country(
        code="GB",
        weight=12,
        spellings=(
            ("United Kingdom", 5), ("UK", 5), ("GB", 2), ("Great Britain", 1), ("England", 1),
        ),
        cities=(
            _c("London", "", "England", "EC1A #@@", "20"),
            _c("London", "", "England", "SE1 #@@", "20"),
            _c("Manchester", "", "England", "M1 #@@", "161"),
            _c("Birmingham", "", "England", "B3 #@@", "121"),
            _c("Edinburgh", "", "Scotland", "EH2 #@@", "131"),
            _c("Bristol", "", "England", "BS1 #@@", "117"),
            _c("Leeds", "", "England", "LS1 #@@", "113"),
            _c("Glasgow", "", "Scotland", "G2 #@@", "141"),
        ),
        first_names=(
            "Oliver", "Amelia", "Harry", "Isla", "George", "Sophie", "Jack", "Charlotte", "Rhys",
            "Siobhan", "Aoife", "Callum", "Niamh", "Graham", "Fiona", "Alistair", "Priyanka", "Tom",
            "Bethan", "Imogen",
        ),
        last_names=(
            "Smith", "Jones", "Taylor", "Brown", "Evans", "Davies", "Wright", "Hughes", "Edwards",
            "O'Neill", "MacDonald", "Fitzgerald", "Ashworth-Clarke", "Bennett", "Pritchard",
            "Okafor", "Khan", "Ahmed", "Llewellyn", "Fforde",
        ),
        stems=STEMS_EN,
        sectors=SECTORS_EN,
        suffixes=(("Ltd", 6), ("Limited", 3), ("PLC", 1), ("LLP", 1)),
        state_style="sometimes",
    ),
    Country(
        code="DE",
        weight=10,
        spellings=(("Germany", 5), ("DE", 3), ("Deutschland", 3)),
        cities=(
            _c("Berlin", "BE", "Berlin", "10###", "30"),
            _c("Hamburg", "HH", "Hamburg", "20###", "40"),
            _c(("Frankfurt am Main", "Frankfurt"), "HE", "Hessen", "603##", "69"),
            _c(("Köln", "Cologne", "Koeln"), "NW", "Nordrhein-Westfalen", "506##", "221"),
            _c(("München", "Munich", "Muenchen"), "BY", "Bayern", "80###", "89"),
        ),
        first_names=(
            "Lukas", "Leonie", "Jürgen", "Björn", "Sören", "Anke", "Katrin", "Maximilian", "Lena",
            "Jörg", "Uwe", "Sabine", "Franziska", "Tobias", "Hans-Peter", "Anna-Lena", "Dörte",
            "Kai",
        ),
        last_names=(
            "Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker",
            "Schäfer", "Koch", "Groß", "Krüger", "Hoffmann", "von Bülow", "Weiß-Hartmann",
            "Brandt-Köhler", "Jäger", "Özdemir",
        ),
        stems=(
            "Nordlicht", "Alpenblick", "Elbtal", "Schwarzwald", "Isartal", "Spreewerk", "Havelland",
            "Lindenhof", "Rheinblick", "Taunus", "Weserland", "Hansa", "Edelweiß", "Sonnenfeld",
        ),
        sectors=(
            ("Maschinenbau", "Machinery"), ("Logistik", "Transportation"),
            ("Software", "Technology"), ("Software", "Technology"),
            ("Medizintechnik", "Healthcare"), ("Energie", "Energy"),
            ("Versicherungen", "Insurance"), ("Systemhaus", "Technology"), ("Chemie", "Chemicals"),
            ("Bau", "Construction"), ("Lebensmittel", "Food & Beverage"),
            ("Elektronik", "Electronics"),
        ),
        suffixes=(("GmbH", 6), ("AG", 2), ("GmbH & Co. KG", 2), ("SE", 1)),
        state_style="sometimes",
        personal_domains=("gmx.de", "web.de", "gmail.com", "outlook.de"),
        local_titles=(
            "Geschäftsführer", "Leiterin Marketing", "Leiter IT", "Vertriebsleiter",
            "Einkaufsleiterin", "Teamleiter CRM",
        ),
        local_forms=("Kontaktformular: Vertrieb", "Demo anfragen"),
        german_translit=True,
    ),
    Country(
        code="FR",
        weight=7,
        spellings=(("France", 6), ("FR", 2)),
        cities=(
            _c("Paris", "", "Île-de-France", "750##", "1"),
            _c("Lyon", "", "Auvergne-Rhône-Alpes", "6900#", "4"),
            _c("Toulouse", "", "Occitanie", "31000", "5"),
            _c("Bordeaux", "", "Nouvelle-Aquitaine", "33000", "5"),
            _c("Lille", "", "Hauts-de-France", "59000", "3"),
            _c("Nantes", "", "Pays de la Loire", "44000", "2"),
        ),
        first_names=(
            "Amélie", "Théo", "Chloé", "Léa", "François", "Hélène", "Jérôme", "Benoît", "Camille",
            "Maëlle", "Noël", "Inès", "Gaël", "Éloïse", "Jean-Luc", "Marie-Claire", "Anne-Sophie",
        ),
        last_names=(
            "Martin", "Bernard", "Dubois", "Thomas", "Robert", "Petit", "Durand", "Lefèvre",
            "Moreau", "Girard", "Faure", "d'Aubigné", "Lemaître", "Béranger", "Roux",
            "Lefèvre-Dupont", "N'Diaye",
        ),
        stems=(
            "Lumière", "Étoile", "Belle Rive", "Vallée Verte", "Côte d'Argent", "Mistral",
            "Beauséjour", "Horizon", "Saint-Clair", "Montclair",
        ),
        sectors=(
            ("Conseil", "Consulting"), ("Logiciels", "Technology"), ("Industries", "Manufacturing"),
            ("Santé", "Healthcare"), ("Assurances", "Insurance"), ("Transports", "Transportation"),
            ("Énergie", "Energy"), ("Médias", "Media"), ("Numérique", "Technology"),
        ),
        suffixes=(("SAS", 4), ("S.A.", 2), ("SARL", 3)),
        state_style="none",
        personal_domains=("gmail.com", "orange.fr", "free.fr", "outlook.fr"),
        local_titles=(
            "Directeur commercial", "Responsable marketing", "DSI", "Chef de projet CRM",
            "Directrice générale",
        ),
        local_forms=("Demande de démo", "Contactez un expert"),
    ),
    Country(
        code="ES",
        weight=6,
        spellings=(("Spain", 5), ("España", 3), ("ES", 2)),
        cities=(
            _c("Madrid", "M", "Madrid", "280##", "91"),
            _c("Barcelona", "B", "Barcelona", "080##", "93"),
            _c("Valencia", "V", "Valencia", "460##", "96"),
            _c(("Sevilla", "Seville"), "SE", "Sevilla", "410##", "95"),
            _c("Bilbao", "BI", "Bizkaia", "480##", "94"),
        ),
        first_names=(
            "José", "María", "Javier", "Lucía", "Álvaro", "Sofía", "Martín", "Inés", "Íñigo",
            "Begoña", "Nuria", "Pilar", "Sergio", "Raúl", "María José", "Ainhoa",
        ),
        last_names=(
            "García", "Fernández", "González", "Rodríguez", "López", "Martínez", "Sánchez", "Pérez",
            "Gómez", "Muñoz", "Jiménez", "Ruiz", "Núñez", "Ibáñez", "Sánchez-Vidal", "de la Fuente",
            "Etxeberria",
        ),
        stems=(
            "Alborán", "Mirador", "Brisa", "Horizonte", "Atalaya", "Levante", "Cantábrico",
            "Solana",
        ),
        sectors=(
            ("Soluciones", "Consulting"), ("Tecnologías", "Technology"),
            ("Consultores", "Consulting"), ("Logística", "Transportation"),
            ("Alimentación", "Food & Beverage"), ("Energías", "Energy"), ("Salud", "Healthcare"),
        ),
        suffixes=(("S.L.", 5), ("S.A.", 3), ("S.L.U.", 1)),
        state_style="none",
        personal_domains=("gmail.com", "hotmail.es", "outlook.es"),
        local_titles=(
            "Director de Ventas", "Jefa de Compras", "Responsable de Marketing", "Director General",
        ),
        local_forms=("Solicitar demo", "Hablar con ventas"),
    ),
    Country(
        code="NL",
        weight=5,
        spellings=(("Netherlands", 4), ("The Netherlands", 2), ("NL", 2), ("Holland", 1)),
        cities=(
            _c("Amsterdam", "NH", "Noord-Holland", "10## @@", "20"),
            _c("Rotterdam", "ZH", "Zuid-Holland", "30## @@", "10"),
            _c("Utrecht", "UT", "Utrecht", "35## @@", "30"),
            _c("Eindhoven", "NB", "Noord-Brabant", "56## @@", "40"),
            _c(("Den Haag", "The Hague", "'s-Gravenhage"), "ZH", "Zuid-Holland", "25## @@", "70"),
        ),
        first_names=(
            "Daan", "Sanne", "Bram", "Femke", "Joost", "Maartje", "Sem", "Lotte", "Thijs", "Anouk",
            "Ruud", "Eline",
        ),
        last_names=(
            "de Vries", "van den Berg", "van Dijk", "Bakker", "Janssen", "Visser", "Smit", "Meijer",
            "de Boer", "Mulder", "de Jong", "van der Meer", "'t Hart", "Hendriks",
        ),
        stems=(
            "Polder", "Tulp", "Grachten", "Molenwiek", "Duinzicht", "Vlinder", "Lindeboom",
            "Kroonduif",
        ),
        sectors=(
            ("Software", "Technology"), ("Logistiek", "Transportation"), ("Data", "Technology"),
            ("Bouw", "Construction"), ("Zorg", "Healthcare"), ("Media", "Media"),
            ("Energie", "Energy"),
        ),
        suffixes=(("B.V.", 7), ("BV", 2), ("N.V.", 1)),
        state_style="none",
        personal_domains=("gmail.com", "outlook.com", "hotmail.nl", "ziggo.nl"),
        local_titles=("Directeur", "Marketingmanager", "Hoofd IT", "Inkoper"),
    ),
    Country(
        code="SE",
        weight=3,
        spellings=(("Sweden", 4), ("SE", 1), ("Sverige", 1)),
        cities=(
            _c("Stockholm", "AB", "Stockholms län", "111 ##", "mobile"),
            _c(("Göteborg", "Gothenburg"), "O", "Västra Götaland", "411 ##", "mobile"),
            _c("Malmö", "M", "Skåne", "211 ##", "mobile"),
        ),
        first_names=(
            "Åsa", "Björn", "Linnéa", "Måns", "Elin", "Oskar", "Sofie", "Göran", "Karin", "Nils",
        ),
        last_names=(
            "Ångström", "Andersson", "Johansson", "Karlsson", "Nilsson", "Eriksson", "Lindqvist",
            "Öberg", "Sjöberg", "Bergström", "Åberg",
        ),
        stems=(
            "Fjäll", "Norrsken", "Skärgård", "Älvdal", "Björkö", "Granskog", "Havsbris",
            "Vinterljus",
        ),
        sectors=(
            ("Teknik", "Engineering"), ("System", "Technology"), ("Data", "Technology"),
            ("Logistik", "Transportation"), ("Energi", "Energy"), ("Vård", "Healthcare"),
        ),
        suffixes=(("AB", 1),),
        state_style="none",
        personal_domains=("gmail.com", "outlook.com", "telia.se"),
        local_titles=("VD", "Marknadschef", "IT-chef", "Försäljningschef"),
    ),
    Country(
        code="IN",
        weight=6,
        spellings=(("India", 5), ("IN", 1)),
        cities=(
            _c(("Bengaluru", "Bangalore"), "KA", "Karnataka", "5600##", "80"),
            _c("Mumbai", "MH", "Maharashtra", "4000##", "22"),
            _c("Pune", "MH", "Maharashtra", "4110##", "20"),
            _c("Hyderabad", "TG", "Telangana", "5000##", "40"),
            _c("Chennai", "TN", "Tamil Nadu", "6000##", "44"),
            _c("New Delhi", "DL", "Delhi", "1100##", "11"),
        ),
        first_names=(
            "Aarav", "Priya", "Rohan", "Ananya", "Vikram", "Sneha", "Arjun", "Kavya", "Rahul",
            "Divya", "Sanjay", "Lakshmi", "Aditya", "Meera",
        ),
        last_names=(
            "Sharma", "Patel", "Iyer", "Reddy", "Nair", "Gupta", "Singh", "Rao", "Menon",
            "Banerjee", "Chatterjee", "Krishnamurthy", "Venkataraman", "D'Souza",
        ),
        stems=("Sahyadri", "Ganga", "Indus", "Nilgiri", "Kaveri", "Vyom", "Akash", "Prakriti"),
        sectors=(
            ("Technologies", "Technology"), ("Infotech", "Technology"), ("Solutions", "Consulting"),
            ("Pharma", "Biotechnology"), ("Textiles", "Apparel"), ("Engineering", "Engineering"),
            ("Fintech", "Finance"),
        ),
        suffixes=(("Pvt. Ltd.", 5), ("Private Limited", 3), ("Ltd.", 1)),
        state_style="name",
        personal_domains=("gmail.com", "gmail.com", "yahoo.co.in", "outlook.com"),
    ),
    Country(
        code="BR",
        weight=5,
        spellings=(("Brazil", 4), ("Brasil", 3), ("BR", 1)),
        cities=(
            _c(("São Paulo", "Sao Paulo"), "SP", "São Paulo", "01310-###", "11"),
            _c("Rio de Janeiro", "RJ", "Rio de Janeiro", "20040-###", "21"),
            _c("Belo Horizonte", "MG", "Minas Gerais", "30130-###", "31"),
            _c("Curitiba", "PR", "Paraná", "80010-###", "41"),
            _c("Porto Alegre", "RS", "Rio Grande do Sul", "90010-###", "51"),
        ),
        first_names=(
            "João", "Ana", "Lucas", "Beatriz", "Gabriel", "Mariana", "Thiago", "Letícia", "Felipe",
            "Júlia", "Caio", "Luíza", "Conceição",
        ),
        last_names=(
            "Silva", "Santos", "Oliveira", "Souza", "Pereira", "Costa", "Rodrigues", "Almeida",
            "Nascimento", "Araújo", "Gonçalves", "Magalhães", "da Silva", "dos Santos",
        ),
        stems=("Ipê", "Cerrado", "Tupã", "Aurora", "Jequitibá", "Pantanal", "Serra Azul", "Itapuã"),
        sectors=(
            ("Tecnologia", "Technology"), ("Sistemas", "Technology"), ("Consultoria", "Consulting"),
            ("Logística", "Transportation"), ("Alimentos", "Food & Beverage"),
            ("Saúde", "Healthcare"), ("Agronegócio", "Agriculture"),
        ),
        suffixes=(("Ltda.", 6), ("S.A.", 3), ("LTDA", 1)),
        state_style="code_or_name",
        personal_domains=("gmail.com", "hotmail.com", "outlook.com", "uol.com.br"),
        local_titles=(
            "Diretor de TI", "Gerente de Marketing", "Coordenadora de Vendas", "Sócio-diretor",
        ),
        local_forms=("Fale com vendas", "Solicite uma demonstração"),
    ),
    Country(
        code="JP",
        weight=4,
        spellings=(("Japan", 5), ("JP", 1)),
        cities=(
            _c("Tokyo", "13", "Tokyo", "100-00##", "3"),
            _c("Osaka", "27", "Osaka", "530-00##", "6"),
            _c("Yokohama", "14", "Kanagawa", "220-00##", "45"),
            _c("Fukuoka", "40", "Fukuoka", "810-00##", "92"),
            _c("Kyoto", "26", "Kyoto", "600-8###", "75"),
        ),
        first_names=(
            "Haruto", "Yui", "Sota", "Aoi", "Ren", "Hina", "Takumi", "Sakura", "Kenji", "Yuki",
            "Daisuke", "Ayumi", "Shōta", "美咲", "大翔", "結衣",
        ),
        last_names=(
            "Sato", "Suzuki", "Takahashi", "Tanaka", "Watanabe", "Ito", "Yamamoto", "Nakamura",
            "Kobayashi", "Katō", "Yoshida", "Saitō", "Ōno", "佐藤", "田中", "鈴木",
        ),
        stems=(
            "Hoshizora", "Kazeyama", "Sakuragawa", "Aozora", "Midorikawa", "Shirokane", "Yukihana",
            "Tsukimi",
        ),
        sectors=(
            ("Systems", "Technology"), ("Denki", "Electronics"), ("Seiki", "Machinery"),
            ("Solutions", "Consulting"), ("Shoji", "Retail"), ("Pharma", "Biotechnology"),
            ("Logistics", "Transportation"),
        ),
        suffixes=(("K.K.", 3), ("KK", 2), ("Co., Ltd.", 4), ("Inc.", 1)),
        state_style="sometimes",
        personal_domains=("gmail.com", "yahoo.co.jp", "outlook.jp"),
        local_titles=("営業部長", "マーケティング部 課長", "情報システム部 部長"),
        local_forms=("資料請求", "お問い合わせ"),
    ),
    Country(
        code="AU",
        weight=5,
        spellings=(("Australia", 5), ("AU", 2)),
        cities=(
            _c("Sydney", "NSW", "New South Wales", "2000", "2"),
            _c("Melbourne", "VIC", "Victoria", "3000", "3"),
            _c("Brisbane", "QLD", "Queensland", "4000", "7"),
            _c("Perth", "WA", "Western Australia", "6000", "8"),
            _c("Adelaide", "SA", "South Australia", "5000", "8"),
        ),
        first_names=(
            "Jack", "Charlotte", "Liam", "Mia", "Noah", "Chloe", "Lachlan", "Matilda", "Cooper",
            "Isla", "Bree", "Darcy",
        ),
        last_names=(
            "Smith", "Jones", "Williams", "Brown", "Wilson", "Taylor", "Nguyen", "Kelly",
            "O'Sullivan", "McKenzie", "Papadopoulos", "Rossi",
        ),
        stems=STEMS_EN,
        sectors=SECTORS_EN,
        suffixes=(("Pty Ltd", 6), ("Ltd", 1)),
        state_style="code",
        personal_domains=("gmail.com", "outlook.com", "bigpond.com"),
    ),
)
COUNTRY_BY_CODE = {country.code: country for country in COUNTRIES}

#: Romanisation of the Japanese names written in kanji (for e-mail addresses).
ROMAJI = {
    "美咲": "Misaki",
    "大翔": "Hiroto",
    "結衣": "Yui",
    "佐藤": "Sato",
    "田中": "Tanaka",
    "鈴木": "Suzuki",
}

#: People who always appear, so every awkward spelling is covered whatever the seed.
FEATURED: tuple[tuple[str, str, str], ...] = (
    ("US", "Zoë", "O'Brien"), ("US", "Marco", "D'Angelo"), ("ES", "José", "Fernández"),
    ("DE", "Jürgen", "Müller"), ("SE", "Linnéa", "Ångström"), ("GB", "Siobhan", "Ashworth-Clarke"),
    ("FR", "Jean-Luc", "Lefèvre"), ("FR", "Hélène", "d'Aubigné"), ("NL", "Thijs", "'t Hart"),
    ("NL", "Femke", "van der Meer"), ("JP", "美咲", "田中"), ("BR", "João", "Magalhães"),
    ("IN", "Lakshmi", "Venkataraman"), ("AU", "Lachlan", "O'Sullivan"), ("CA", "Marie-Ève", "Côté"),
)

# fmt: on


# --------------------------------------------------------------------------- #
# Phone numbers
# --------------------------------------------------------------------------- #
# Each generator returns several renderings of ONE number; a lead uses one of
# them and a "hard" duplicate of that lead uses another.

AU_DRAMA_MOBILES = ("0491 570 156", "0491 570 157", "0491 570 158", "0491 570 159", "0491 570 110")
#: Bundesnetzagentur "drama numbers": area code -> 1000-number block prefix.
DE_DRAMA_BLOCKS = {"30": "23125", "40": "66969", "69": "90009", "221": "4710", "89": "99998"}


def _phones_nanp(rng: random.Random, area: str) -> list[str]:
    line = f"01{rng.randint(0, 99):02d}"  # 555-0100..0199: reserved for fiction
    return [
        f"+1 ({area}) 555-{line}",
        f"{area}.555.{line}",
        f"({area}) 555-{line}",
        f"{area}-555-{line}",
        f"+1 {area} 555 {line}",
        f"+1{area}555{line}",
        f"1-{area}-555-{line}",
    ]


def _phones_gb(rng: random.Random, area: str) -> list[str]:
    n = rng.randint(0, 999)
    # Ofcom drama ranges: London 020 7946 0000-0999, elsewhere 01xx 496 0000-0999.
    local = f"7946 0{n:03d}" if area == "20" else f"496 0{n:03d}"
    compact = local.replace(" ", "")
    return [
        f"0{area} {local}",
        f"+44 {area} {local}",
        f"+44 (0){area} {local}",
        f"0{area}{compact}",
        f"+44{area}{compact}",
    ]


def _phones_de(rng: random.Random, area: str) -> list[str]:
    block, n = DE_DRAMA_BLOCKS[area], f"{rng.randint(0, 999):03d}"
    sub = block + n
    return [
        f"0{area} {sub}",
        f"+49 {area} {sub}",
        f"+49 (0){area} {sub}",
        f"0{area}/{sub}",
        f"0{area} {block}-{n}",
        f"+49{area}{sub}",
        f"(0{area}) {block} {n}",
    ]


def _phones_fr(rng: random.Random, area: str) -> list[str]:
    blocks = {"1": "99 00", "2": "61 91", "3": "53 01", "4": "65 71", "5": "36 49"}
    pairs = f"{blocks[area]} {rng.randint(0, 99):02d} {rng.randint(0, 99):02d}"
    compact = pairs.replace(" ", "")
    return [
        f"0{area} {pairs}",
        f"+33 {area} {pairs}",
        f"+33 (0){area} {pairs}",
        f"0{area}{compact}",
        f"0{area}.{pairs.replace(' ', '.')}",
        f"+33{area}{compact}",
    ]


def _phones_es(rng: random.Random, area: str) -> list[str]:
    if rng.random() < 0.3:
        d = f"6{rng.randint(10, 99)}{rng.randint(0, 999999):06d}"
    else:
        d = f"{area}{rng.randint(2000000, 9999999)}"
    return [
        f"{d[:3]} {d[3:6]} {d[6:]}",
        f"+34 {d[:3]} {d[3:6]} {d[6:]}",
        f"+34 {d[:2]} {d[2:5]} {d[5:7]} {d[7:]}",
        f"{d[:3]} {d[3:5]} {d[5:7]} {d[7:]}",
        f"+34{d}",
        f"(+34) {d}",
    ]


def _phones_nl(rng: random.Random, area: str) -> list[str]:
    if rng.random() < 0.3:
        sub = f"{rng.randint(10000000, 69999999)}"
        return [f"06 {sub}", f"06-{sub}", f"+31 6 {sub}", f"+31 (0)6 {sub}", f"+316{sub}"]
    sub = f"{rng.randint(2000000, 7999999)}"
    return [
        f"0{area} {sub[:3]} {sub[3:]}",
        f"0{area}-{sub}",
        f"+31 {area} {sub[:3]} {sub[3:]}",
        f"+31 (0){area} {sub}",
        f"+31{area}{sub}",
    ]


def _phones_se(rng: random.Random, area: str) -> list[str]:
    n = f"{rng.randint(5, 99):02d}"  # PTS fiction range 070-174 06 05..99
    return [
        f"070-174 06 {n}",
        f"+46 70 174 06 {n}",
        f"070-17406{n}",
        f"+4670174 06 {n}",
        f"0701740 6{n}",
    ]


def _phones_in(rng: random.Random, area: str) -> list[str]:
    if rng.random() < 0.4:
        m = f"{rng.choice('9876')}{rng.randint(100000000, 999999999)}"
        return [f"+91 {m[:5]} {m[5:]}", f"0{m[:5]} {m[5:]}", f"+91-{m}", f"+91 {m}", f"+91{m}"]
    n = f"{rng.choice('246')}{rng.randint(1000000, 9999999)}"
    return [
        f"+91 {area} {n[:4]} {n[4:]}",
        f"0{area} {n[:4]} {n[4:]}",
        f"0{area}-{n}",
        f"+91-{area}-{n}",
        f"+91{area}{n}",
    ]


def _phones_br(rng: random.Random, area: str) -> list[str]:
    if rng.random() < 0.45:
        m = f"9{rng.randint(6000, 9999)}{rng.randint(0, 9999):04d}"
        return [
            f"({area}) {m[:5]}-{m[5:]}",
            f"+55 {area} {m[:5]}-{m[5:]}",
            f"+55 ({area}) {m[:5]}-{m[5:]}",
            f"{area}{m}",
            f"+55{area}{m}",
        ]
    n = f"{rng.choice('234')}{rng.randint(100, 999)}{rng.randint(0, 9999):04d}"
    return [
        f"+55 {area} {n[:4]}-{n[4:]}",
        f"({area}) {n[:4]}-{n[4:]}",
        f"{area} {n[:4]} {n[4:]}",
        f"+55 ({area}) {n[:4]}-{n[4:]}",
        f"+55{area}{n}",
    ]


def _phones_jp(rng: random.Random, area: str) -> list[str]:
    if rng.random() < 0.3:
        m = f"{rng.choice(('70', '80', '90'))}{rng.randint(1000, 9999)}{rng.randint(0, 9999):04d}"
        return [
            f"0{m[:2]}-{m[2:6]}-{m[6:]}",
            f"+81 {m[:2]}-{m[2:6]}-{m[6:]}",
            f"0{m[:2]} {m[2:6]} {m[6:]}",
            f"+81{m}",
        ]
    width = 8 - len(area) + 1  # national significant number is 9 digits
    sub = f"{rng.randint(10 ** (width - 1) * 2, 10**width - 1)}"
    head, tail = sub[:-4], sub[-4:]
    return [
        f"0{area}-{head}-{tail}",
        f"+81 {area}-{head}-{tail}",
        f"0{area} {head} {tail}",
        f"(0{area}) {head}-{tail}",
        f"+81{area}{sub}",
    ]


def _phones_au(rng: random.Random, area: str) -> list[str]:
    if rng.random() < 0.2:
        mobile = rng.choice(AU_DRAMA_MOBILES)
        compact = mobile.replace(" ", "")
        return [
            mobile,
            f"+61 {compact[1:4]} {compact[4:7]} {compact[7:]}",
            compact,
            f"+61{compact[1:]}",
        ]
    n = f"5550 {rng.randint(0, 9999):04d}"  # ACMA fiction range (0x) 5550 xxxx
    compact = n.replace(" ", "")
    return [
        f"(0{area}) {n}",
        f"+61 {area} {n}",
        f"0{area} {n}",
        f"+61 (0){area} {n}",
        f"0{area}{compact}",
    ]


PHONE_GENERATORS: dict[str, Callable[[random.Random, str], list[str]]] = {
    "US": _phones_nanp,
    "CA": _phones_nanp,
    "GB": _phones_gb,
    "DE": _phones_de,
    "FR": _phones_fr,
    "ES": _phones_es,
    "NL": _phones_nl,
    "SE": _phones_se,
    "IN": _phones_in,
    "BR": _phones_br,
    "JP": _phones_jp,
    "AU": _phones_au,
}

# --------------------------------------------------------------------------- #
# Model
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class Activity:
    kind: str
    at: datetime
    detail: str
    raw_at: str | None = None  # overrides the rendered timestamp (bad rows only)

    @property
    def occurred_at(self) -> str:
        return self.raw_at if self.raw_at is not None else iso(self.at)


@dataclass(frozen=True)
class Company:
    base: str  # name without the legal suffix
    name: str  # name as the lead typed it
    domain: str
    website: str
    industry: str
    employees: int | None
    annual_revenue: int | None


@dataclass(eq=False)
class Lead:
    email: str
    first_name: str
    last_name: str
    company: str
    title: str
    phone: str
    country: str
    state: str
    city: str
    postal_code: str
    industry: str
    employees: int | None
    annual_revenue: int | None
    website: str
    lead_source: str
    created: datetime
    updated: datetime
    activities: list[Activity]
    # --- generator bookkeeping, never written out ---
    country_code: str = ""
    company_base: str = ""
    phone_variants: tuple[str, ...] = ()
    role: str = "unique"  # unique | duplicate | bad
    note: str = ""
    twin: Lead | None = field(default=None, repr=False)
    raw_created_at: str | None = None

    @property
    def created_at(self) -> str:
        return self.raw_created_at if self.raw_created_at is not None else iso(self.created)

    @property
    def updated_at(self) -> str:
        return iso(self.updated)

    def csv_row(self) -> list[str]:
        activities = ";".join(f"{a.kind}|{a.occurred_at}|{a.detail}" for a in self.activities)
        return [
            self.email,
            self.first_name,
            self.last_name,
            self.company,
            self.title,
            self.phone,
            self.country,
            self.state,
            self.city,
            self.postal_code,
            self.industry,
            _int_or_blank(self.employees),
            _int_or_blank(self.annual_revenue),
            self.website,
            self.lead_source,
            self.created_at,
            self.updated_at,
            activities,
        ]

    def json_record(self) -> dict[str, Any]:
        record: dict[str, Any] = {}
        for column, value in zip(COLUMNS, self.csv_row(), strict=True):
            if column in ("employees", "annual_revenue"):
                record[column] = int(value) if value else None
            elif column == "activities":
                record[column] = [
                    {"kind": a.kind, "occurred_at": a.occurred_at, "detail": a.detail}
                    for a in self.activities
                ]
            else:
                record[column] = value or None
        return record


def _int_or_blank(value: int | None) -> str:
    return "" if value is None else str(value)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def is_strongly_engaged(lead: Lead) -> bool:
    """Strong engagement = at least one form fill (every such lead also saw pricing/demo)."""
    return any(a.kind == "form_fill" for a in lead.activities)


# --------------------------------------------------------------------------- #
# Helpers
# --------------------------------------------------------------------------- #

_TRANSLIT = str.maketrans(
    {
        "ß": "ss",
        "ø": "o",
        "Ø": "O",
        "æ": "ae",
        "Æ": "AE",
        "œ": "oe",
        "Œ": "OE",
        "ł": "l",
        "Ł": "L",
        "đ": "d",
        "ı": "i",
    }
)
_GERMAN = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "Ä": "Ae", "Ö": "Oe", "Ü": "Ue"})


def ascii_slug(text: str, *, german: bool = False, keep_hyphen: bool = True) -> str:
    """Lower-case ASCII form of a name, as it would appear in an e-mail address."""
    text = ROMAJI.get(text, text)
    if german:
        text = text.translate(_GERMAN)
    text = unicodedata.normalize("NFKD", text.translate(_TRANSLIT))
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).lower()
    allowed = "abcdefghijklmnopqrstuvwxyz0123456789" + ("-" if keep_hyphen else "")
    return "".join(ch for ch in text if ch in allowed)


def weighted(rng: random.Random, options: Sequence[tuple[str, int]]) -> str:
    return rng.choices([o for o, _ in options], weights=[w for _, w in options])[0]


def minute(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


def random_moment(rng: random.Random, start: datetime, end: datetime) -> datetime:
    if end <= start:
        return minute(start)
    return minute(start + (end - start) * rng.random())


def fill_pattern(rng: random.Random, pattern: str) -> str:
    letters = "ABEGHJLNPRSTWXYZ"  # valid in UK, Canadian and Dutch postcodes alike
    return "".join(
        str(rng.randint(0, 9)) if ch == "#" else rng.choice(letters) if ch == "@" else ch
        for ch in pattern
    )


def round_to(value: float, significant: int) -> int:
    digits = len(str(int(value)))
    step = 10 ** max(0, digits - significant)
    return max(step, int(round(value / step)) * step)


# --------------------------------------------------------------------------- #
# Generator
# --------------------------------------------------------------------------- #


class LeadFactory:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.companies: dict[str, list[Company]] = {c.code: [] for c in COUNTRIES}
        self.used_domains: set[str] = set()
        self.used_emails: set[str] = set()  # normalised: lower-case, gmail dots removed
        self.used_names: set[tuple[str, str]] = set()

    # -- identity ---------------------------------------------------------- #

    @staticmethod
    def email_key(email: str) -> str:
        local, _, domain = email.strip().lower().partition("@")
        if domain in ("gmail.com", "googlemail.com"):
            local = local.split("+")[0].replace(".", "")
        return f"{local}@{domain}"

    def claim_email(self, email: str) -> bool:
        key = self.email_key(email)
        if key in self.used_emails:
            return False
        self.used_emails.add(key)
        return True

    def pick_country(self) -> Country:
        return self.rng.choices(COUNTRIES, weights=[c.weight for c in COUNTRIES])[0]

    def pick_name(self, country: Country) -> tuple[str, str]:
        for _ in range(200):
            first = self.rng.choice(country.first_names)
            last = self.rng.choice(country.last_names)
            key = (ascii_slug(first), ascii_slug(last))
            if (first in ROMAJI) != (last in ROMAJI):  # kanji and romaji do not mix
                continue
            if key not in self.used_names:
                self.used_names.add(key)
                return first, last
        raise RuntimeError(f"ran out of unique names for {country.code}")

    # -- company ----------------------------------------------------------- #

    def company_for(self, country: Country) -> Company:
        """An existing company of that country (30%) or a new one."""
        pool = self.companies[country.code]
        if pool and self.rng.random() < 0.3:
            return self.rng.choice(pool)
        rng = self.rng
        for _ in range(500):
            stem = rng.choice(country.stems)
            word, industry = rng.choice(country.sectors)
            base = f"{stem} {word}"
            slug_words = [ascii_slug(w, german=country.german_translit) for w in base.split()]
            domain = ("-" if rng.random() < 0.6 else "").join(slug_words) + ".example"
            if domain not in self.used_domains:
                break
        else:
            raise RuntimeError("ran out of company names")
        self.used_domains.add(domain)
        suffix = weighted(rng, country.suffixes)
        name = f"{base}{suffix}" if suffix.startswith(",") else f"{base} {suffix}"
        website = weighted(
            rng,
            (
                (f"https://www.{domain}", 5),
                (f"https://{domain}", 2),
                (f"www.{domain}", 3),
                (domain, 2),
                (f"http://{domain}/", 1),
                ("", 1),
            ),
        )
        low, high, _ = rng.choices(EMPLOYEE_BUCKETS, weights=[b[2] for b in EMPLOYEE_BUCKETS])[0]
        headcount = rng.randint(low, high)
        if headcount > 200:
            headcount = round_to(headcount, 2)
        revenue: int | None = round_to(headcount * rng.uniform(60_000, 380_000), 2)
        employees = None if rng.random() < 0.10 else headcount
        if rng.random() < (0.5 if employees is None else 0.18):
            revenue = None
        if rng.random() < 0.07:
            industry = ""
        elif rng.random() < 0.03:
            industry = "Other"
        company = Company(base, name, domain, website, industry, employees, revenue)
        pool.append(company)
        return company

    # -- person ------------------------------------------------------------ #

    def work_email(self, first: str, last: str, company: Company, country: Country) -> str:
        rng = self.rng
        domain = company.domain
        small = company.employees is not None and company.employees <= 50
        f = ascii_slug(first, german=country.german_translit, keep_hyphen=False)
        fh = ascii_slug(first, german=country.german_translit)
        last_slug = ascii_slug(last, german=country.german_translit)
        patterns = [
            (f"{fh}.{last_slug}", 55),
            (f"{f[0]}{last_slug}", 20),
            (fh, 10 if small else 0),
            (f"{fh}{last_slug[:1]}", 5),
            (f"{fh}_{last_slug}", 5),
            (f"{f[0]}.{last_slug}", 7),
        ]
        for _ in range(20):
            local = weighted(rng, patterns) if last_slug else fh
            email = f"{local}@{domain}"
            if self.claim_email(email):
                return email
            patterns = [(f"{fh}.{last_slug}{rng.randint(2, 9)}", 1)]
        raise RuntimeError("could not find a free e-mail address")

    def personal_email(
        self,
        first: str,
        last: str,
        country: Country,
        domain: str | None = None,
        local: str | None = None,
    ) -> str:
        rng = self.rng
        domain = domain or rng.choice(country.personal_domains)
        f = ascii_slug(first, german=country.german_translit, keep_hyphen=False)
        last_slug = ascii_slug(last, german=country.german_translit, keep_hyphen=False)
        for _ in range(50):
            candidate = local or weighted(
                rng,
                (
                    (f"{f}.{last_slug}{rng.randint(10, 99)}", 4),
                    (f"{f}{last_slug}{rng.randint(1970, 2001)}", 3),
                    (f"{f[0]}.{last_slug}{rng.randint(1, 999)}", 2),
                    (f"{last_slug}.{f}{rng.randint(10, 99)}", 1),
                ),
            )
            email = f"{candidate}@{domain}"
            if self.claim_email(email):
                return email
            local = None
        raise RuntimeError("could not find a free personal e-mail address")

    def title_for(self, country: Country) -> str:
        roll = self.rng.random()
        if roll < 0.05:
            return ""
        if country.local_titles and roll < 0.30:
            return self.rng.choice(country.local_titles)
        return self.rng.choice(TITLES_EN)

    def location(self, country: Country) -> tuple[City, str, str, str, str]:
        rng = self.rng
        city = rng.choice(country.cities)
        city_name = city.names[0] if rng.random() < 0.75 else rng.choice(city.names)
        state = ""
        style = country.state_style
        if style == "code_or_name":
            state = city.state_code if rng.random() < 0.7 else city.state_name
        elif style == "code":
            state = city.state_code
        elif style == "name" or (style == "sometimes" and rng.random() < 0.3):
            state = city.state_name
        postal = fill_pattern(rng, city.postal)
        if country.code == "US" and rng.random() < 0.1:
            postal += f"-{rng.randint(1000, 9999)}"
        if rng.random() < 0.04:
            postal = ""
        return city, city_name, state, postal, weighted(rng, country.spellings)

    def make_lead(
        self,
        *,
        tier: str,
        created: datetime,
        country: Country | None = None,
        name: tuple[str, str] | None = None,
        personal: bool | None = None,
        until: datetime | None = None,
    ) -> Lead:
        rng = self.rng
        country = country or self.pick_country()
        if name is None:
            first, last = self.pick_name(country)
        else:
            first, last = name
            self.used_names.add((ascii_slug(first), ascii_slug(last)))
        company = self.company_for(country)
        city, city_name, state, postal, country_text = self.location(country)
        if personal is None:
            personal = rng.random() < 0.12
        if personal:
            email = self.personal_email(first, last, country)
        else:
            email = self.work_email(first, last, company, country)
        variants = tuple(PHONE_GENERATORS[country.code](rng, city.area))
        phone = "" if rng.random() < 0.12 else rng.choice(variants)
        if phone and country.code == "US" and rng.random() < 0.05:
            phone += f" x{rng.randint(100, 999)}"
        source = self.source_for(tier)
        activities = self.activities_for(tier, created, country, source, until=until)
        updated = self.updated_after(created, activities)
        display_first, display_last = first, last
        roll = rng.random()
        if roll < 0.02:  # typed in lower case on a form
            display_first, display_last = first.lower(), last.lower()
        elif roll < 0.04 and country.code in ("FR", "DE", "BR"):  # surname in capitals
            display_last = last.upper()
        return Lead(
            email=email,
            first_name=display_first,
            last_name=display_last,
            company=company.name,
            title=self.title_for(country),
            phone=phone,
            country=country_text,
            state=state,
            city=city_name,
            postal_code=postal,
            industry=company.industry,
            employees=company.employees,
            annual_revenue=company.annual_revenue,
            website=company.website,
            lead_source=source,
            created=created,
            updated=updated,
            activities=activities,
            country_code=country.code,
            company_base=company.base,
            phone_variants=variants,
            note=tier,
        )

    # -- engagement -------------------------------------------------------- #

    def source_for(self, tier: str) -> str:
        if tier == "cold":
            weights = (
                ("Web", 30),
                ("Webinar", 5),
                ("Trade Show", 15),
                ("Partner Referral", 5),
                ("Purchased List", 30),
                ("Other", 15),
            )
            return weighted(self.rng, weights)
        if tier == "hot":
            weights = (
                ("Web", 45),
                ("Webinar", 22),
                ("Trade Show", 12),
                ("Partner Referral", 14),
                ("Purchased List", 2),
                ("Other", 5),
            )
            return weighted(self.rng, weights)
        return weighted(self.rng, LEAD_SOURCES)

    def activities_for(
        self,
        tier: str,
        created: datetime,
        country: Country,
        source: str,
        *,
        until: datetime | None = None,
    ) -> list[Activity]:
        rng = self.rng
        horizon = LATEST - timedelta(hours=2)
        span_end = min(horizon, until or created + timedelta(days=rng.uniform(0.5, 21)))
        events: list[tuple[str, str]] = []
        if tier == "cold":
            count = rng.choices((0, 1, 2, 3), weights=(20, 35, 25, 20))[0]
            events = [("page_visit", rng.choice(LOW_INTENT_PAGES)) for _ in range(count)]
        elif tier == "warm":
            pages = LOW_INTENT_PAGES + MID_INTENT_PAGES
            events = [("page_visit", rng.choice(pages)) for _ in range(rng.randint(2, 5))]
            events += [
                ("email_click", rng.choice(SOFT_CAMPAIGNS)) for _ in range(rng.randint(1, 2))
            ]
        else:  # hot
            pages = MID_INTENT_PAGES + LOW_INTENT_PAGES[:4]
            events = [("page_visit", rng.choice(pages)) for _ in range(rng.randint(1, 5))]
            events += [
                ("page_visit", rng.choice(HIGH_INTENT_PAGES)) for _ in range(rng.randint(1, 3))
            ]
            events += [
                ("email_click", rng.choice(EMAIL_CAMPAIGNS)) for _ in range(rng.randint(2, 5))
            ]
            forms = [rng.choice(HIGH_INTENT_FORMS)]
            if country.local_forms and rng.random() < 0.35:
                forms = [rng.choice(country.local_forms)]
            if source == "Webinar":
                forms.insert(0, rng.choice(WEBINAR_FORMS))
            elif rng.random() < 0.2:
                forms.append(rng.choice(HIGH_INTENT_FORMS))
            events += [("form_fill", form) for form in forms]
        rng.shuffle(events)
        # The event that created the lead happens first, at created_at.
        firsts = [
            i
            for i, (kind, _detail) in enumerate(events)
            if kind == "form_fill" or (kind == "page_visit" and tier != "hot")
        ]
        if firsts:
            events.insert(0, events.pop(firsts[0]))
        if not events:
            return []
        moments = sorted(random_moment(rng, created, span_end) for _ in events[1:])
        return [
            Activity(kind, at, detail)
            for (kind, detail), at in zip(events, [created, *moments], strict=True)
        ]

    def updated_after(self, created: datetime, activities: list[Activity]) -> datetime:
        last = max([created, *(a.at for a in activities)])
        return min(LATEST, last + timedelta(minutes=self.rng.randint(1, 360)))

    def extra_activities(self, start: datetime, *, escalate: bool) -> list[Activity]:
        """Activity that happened after a lead was first exported."""
        rng = self.rng
        end = min(LATEST - timedelta(hours=2), start + timedelta(days=rng.uniform(1, 10)))
        events: list[tuple[str, str]]
        if escalate:
            events = [
                ("email_click", rng.choice(EMAIL_CAMPAIGNS)),
                ("email_click", rng.choice(EMAIL_CAMPAIGNS)),
                ("page_visit", rng.choice(HIGH_INTENT_PAGES)),
                ("form_fill", rng.choice(HIGH_INTENT_FORMS)),
            ]
        else:  # a page visit or an email click, perhaps one more page: stays unqualified
            kinds = [rng.choice(("page_visit", "email_click"))] + ["page_visit"] * rng.randint(0, 1)
            browse = LOW_INTENT_PAGES + MID_INTENT_PAGES
            events = [
                (kind, rng.choice(browse if kind == "page_visit" else SOFT_CAMPAIGNS))
                for kind in kinds
            ]
        moments = sorted(random_moment(rng, start + timedelta(minutes=5), end) for _ in events)
        return [
            Activity(kind, at, detail) for (kind, detail), at in zip(events, moments, strict=True)
        ]


# --------------------------------------------------------------------------- #
# Duplicates and bad rows
# --------------------------------------------------------------------------- #


def _other_variant(rng: random.Random, lead: Lead) -> str:
    choices = [v for v in lead.phone_variants if v != lead.phone.split(" x")[0]]
    return rng.choice(choices)


def _capitalise_parts(text: str) -> str:
    return "".join(
        ch.upper() if i == 0 or text[i - 1] in ".-_" else ch for i, ch in enumerate(text)
    )


def _mixed_case_email(email: str) -> str:
    """``john.smith@acme-robotics.example`` -> ``John.Smith@Acme-Robotics.example``."""
    local, _, domain = email.partition("@")
    name, _, tld = domain.rpartition(".")
    return f"{_capitalise_parts(local)}@{_capitalise_parts(name)}.{tld}"


def make_easy_duplicate(factory: LeadFactory, original: Lead, index: int) -> Lead:
    """Same e-mail, re-exported later with some fields changed."""
    rng = factory.rng
    escalate = not is_strongly_engaged(original) and rng.random() < 0.4
    extra = factory.extra_activities(original.updated, escalate=escalate)
    changes: list[str] = []
    dup = replace(
        original, activities=[*original.activities, *extra], role="duplicate", twin=original
    )
    dup.updated = factory.updated_after(original.updated, dup.activities)
    if not original.phone:
        dup.phone = rng.choice(original.phone_variants)
        changes.append("phone added")
    elif index % 2 == 1 and rng.random() < 0.5:
        dup.phone = _other_variant(rng, original)
        changes.append("phone reformatted")
    if index % 2 == 0 or not changes:
        dup.title = rng.choice([t for t in SENIOR_TITLES if t != original.title])
        changes.append("new title")
    if rng.random() < 0.3 and original.employees:
        dup.employees = round_to(original.employees * rng.uniform(1.05, 1.3), 2)
        changes.append("employees updated")
    if escalate:
        changes.append("now engaged (form fill)")
    dup.note = "same e-mail, later updated_at; " + ", ".join(changes)
    return dup


def make_hard_duplicate(factory: LeadFactory, original: Lead, kind: str) -> Lead:
    """Same person, but only a normalising matcher can tell."""
    rng = factory.rng
    created = random_moment(
        rng,
        original.updated + timedelta(hours=1),
        min(LATEST - timedelta(days=1), original.updated + timedelta(days=8)),
    )
    country = COUNTRY_BY_CODE[original.country_code]
    activities = factory.activities_for(
        rng.choice(("warm", "hot")), created, country, original.lead_source
    )
    dup = replace(
        original,
        created=created,
        activities=activities,
        role="duplicate",
        twin=original,
        title=original.title,
    )
    dup.updated = factory.updated_after(created, activities)
    local, _, domain = original.email.partition("@")
    if kind == "email_case":
        dup.email = _mixed_case_email(original.email)
        dup.company = original.company_base
        dup.note = "e-mail differs only in case; company suffix dropped"
    elif kind == "email_case_phone":
        dup.email = _mixed_case_email(original.email)
        dup.phone = _other_variant(rng, original)
        dup.note = "e-mail differs only in case; phone in another format"
    elif kind == "gmail_dots":
        dup.email = f"{local.replace('.', '')}@{domain}"
        dup.company = original.company_base
        dup.note = "gmail address without the dots; company suffix dropped"
    elif kind == "gmail_dots_phone":
        first = ascii_slug(original.first_name, german=country.german_translit, keep_hyphen=False)
        cut = len(first) if local.startswith(first) and "." not in local else 1
        dup.email = f"{local[:cut]}.{local[cut:]}@{domain}"
        dup.phone = _other_variant(rng, original)
        dup.note = "gmail address with a dot added; phone in another format"
    elif kind == "alias":
        dup.email = factory.personal_email(
            original.first_name, original.last_name, country, domain="outlook.com"
        )
        dup.phone = _other_variant(rng, original)
        dup.company = original.company_base
        dup.note = (
            "personal e-mail instead of work e-mail; same name, company (suffix "
            "dropped) and phone (another format)"
        )
    else:
        raise ValueError(kind)
    return dup


BAD_KINDS: tuple[tuple[str, str], ...] = (
    ("missing_email", "no e-mail address"),
    ("malformed_email_trailing_at", "malformed e-mail (nothing after @)"),
    ("malformed_email_no_at", "malformed e-mail (no @ sign)"),
    ("malformed_email_double_at", "malformed e-mail (two @ signs)"),
    ("bad_created_at_day", "unparseable created_at (day 32)"),
    ("bad_created_at_format", "unparseable created_at (not ISO 8601)"),
    ("unknown_activity_kind", "activity of unknown kind (phone_call)"),
    ("bad_activity_timestamp", "activity with an unparseable timestamp"),
    ("missing_last_name", "no last_name: CRM refuses (REQUIRED_FIELD_MISSING); engaged"),
    (
        "company_too_long",
        f"company longer than {SALESFORCE_TEXT_LIMIT} chars: CRM refuses "
        "(STRING_TOO_LONG); engaged",
    ),
)


def make_bad_row(
    factory: LeadFactory, kind: str, note: str, created: datetime, until: datetime
) -> Lead:
    rng = factory.rng
    if kind == "malformed_email_trailing_at":
        lead = factory.make_lead(
            tier="hot",
            created=created,
            country=COUNTRY_BY_CODE["ES"],
            name=("María", "García"),
            personal=False,
            until=until,
        )
    else:
        country = COUNTRY_BY_CODE["US"] if kind == "company_too_long" else None
        lead = factory.make_lead(
            tier="hot", created=created, country=country, personal=False, until=until
        )
    lead.role, lead.note = "bad", f"{kind}: {note}"
    local, _, domain = lead.email.partition("@")
    first = ascii_slug(lead.first_name, keep_hyphen=False)
    last = ascii_slug(lead.last_name, keep_hyphen=False)
    if kind == "missing_email":
        lead.email = ""
    elif kind == "malformed_email_trailing_at":
        lead.email = f"{first}.{last}@"
    elif kind == "malformed_email_no_at":
        lead.email = f"{first}.{last}.{domain}"
    elif kind == "malformed_email_double_at":
        lead.email = f"{local}@@{domain}"
    elif kind == "bad_created_at_day":
        lead.raw_created_at = f"2026-10-32T{created:%H:%M}:00Z"
    elif kind == "bad_created_at_format":
        lead.raw_created_at = f"{created:%d/%m/%Y %H:%M}"
    elif kind == "unknown_activity_kind":
        at = lead.activities[len(lead.activities) // 2].at + timedelta(minutes=7)
        lead.activities.append(Activity("phone_call", at, "Inbound call from switchboard"))
        lead.activities.sort(key=lambda a: a.at)
    elif kind == "bad_activity_timestamp":
        target = next(i for i, a in enumerate(lead.activities) if a.kind == "email_click")
        bad = lead.activities[target]
        lead.activities[target] = replace(bad, raw_at=f"{bad.at:%d/%m/%Y %H:%M}")
    elif kind == "missing_last_name":
        lead.last_name = ""
        if factory.claim_email(f"{first}@{domain}"):
            lead.email = f"{first}@{domain}"
    elif kind == "company_too_long":
        lead.company = LONG_COMPANY_NAME
        lead.website = "https://www.northern-plains-coop.example"
        lead.email = f"{first}.{last}@northern-plains-coop.example"
        factory.claim_email(lead.email)
        lead.industry = "Agriculture"
    else:
        raise ValueError(kind)
    if kind != "missing_last_name" and not lead.phone:
        lead.phone = rng.choice(lead.phone_variants)
    return lead


# --------------------------------------------------------------------------- #
# Assembly
# --------------------------------------------------------------------------- #


@dataclass
class Dataset:
    rows: list[Lead]
    jsonl: list[Lead]

    def line_of(self, lead: Lead) -> int:
        return next(i for i, row in enumerate(self.rows) if row is lead) + 2  # header = line 1


def build(seed: int, count: int) -> Dataset:
    rng = random.Random(seed)
    factory = LeadFactory(rng)
    factory.used_names.add(("maria", "garcia"))  # kept for the malformed-e-mail bad row
    n_bad = len(BAD_KINDS)
    n_dup = max(len(HARD_DUPLICATES) + 2, round(count * DUPLICATE_RATE))
    n_unique = count - n_bad - n_dup
    if n_unique < 2 * n_dup + JSONL_COUNT:
        raise SystemExit(f"--count {count} is too small; use at least 100")

    # Unique people, with an exact engagement mix.
    n_hot, n_warm = round(n_unique * HOT_RATE), round(n_unique * WARM_RATE)
    tiers = ["hot"] * n_hot + ["warm"] * n_warm + ["cold"] * (n_unique - n_hot - n_warm)
    rng.shuffle(tiers)
    latest_created = LATEST - timedelta(hours=6)
    unique: list[Lead] = []
    for i, tier in enumerate(tiers):
        created = random_moment(rng, WINDOW_START, latest_created)
        if i < len(FEATURED):
            code, first, last = FEATURED[i]
            lead = factory.make_lead(
                tier=tier,
                created=created,
                country=COUNTRY_BY_CODE[code],
                name=(first, last),
                personal=False,
            )
        else:
            lead = factory.make_lead(tier=tier, created=created)
        unique.append(lead)

    # Duplicates: pick originals that leave room for a later update.
    candidates = [
        lead
        for lead in unique[len(FEATURED) :]
        if lead.updated < LATEST - timedelta(days=12) and lead.phone_variants
    ]
    rng.shuffle(candidates)
    duplicates: list[Lead] = []
    hard_kinds = list(HARD_DUPLICATES)
    n_easy = n_dup - len(hard_kinds)
    no_phone = [c for c in candidates if not c.phone and "@gmail." not in c.email]
    with_phone = [c for c in candidates if c.phone and c.email.endswith(".example")]
    originals = no_phone[:2] + with_phone[: n_easy - len(no_phone[:2])]
    for index, original in enumerate(originals):
        duplicates.append(make_easy_duplicate(factory, original, index))
    spare = [c for c in with_phone if c not in originals]
    for kind in hard_kinds:
        original = spare.pop()
        if kind in ("gmail_dots", "gmail_dots_phone"):
            # Re-home this person at gmail.com: "j.smith" loses its dot in the duplicate,
            # "johnsmith" gains one.
            country = COUNTRY_BY_CODE[original.country_code]
            f = ascii_slug(original.first_name, german=country.german_translit, keep_hyphen=False)
            last = ascii_slug(original.last_name, german=country.german_translit, keep_hyphen=False)
            local = f"{f[0]}.{last}" if kind == "gmail_dots" else f"{f}{last}"
            original.email = factory.personal_email(
                original.first_name, original.last_name, country, domain="gmail.com", local=local
            )
        duplicates.append(make_hard_duplicate(factory, original, kind))

    # Bad rows are spread evenly over the (updated_at-ordered) file: each one is
    # timed to finish shortly before the good row it should sit next to.
    good = sorted([*unique, *duplicates], key=lambda lead: lead.updated)
    bad: list[Lead] = []
    for i, (kind, note) in enumerate(rng.sample(BAD_KINDS, n_bad)):
        anchor = good[int((i + rng.uniform(0.2, 0.8)) * len(good) / n_bad)].updated
        created = random_moment(
            rng, max(WINDOW_START, anchor - timedelta(days=6)), anchor - timedelta(hours=8)
        )
        bad.append(make_bad_row(factory, kind, note, created, anchor - timedelta(hours=7)))

    rows = sorted([*unique, *duplicates, *bad], key=lambda lead: (lead.updated, lead.email))
    clean = [
        lead
        for lead in unique
        if lead.role == "unique" and all(d.twin is not lead for d in duplicates)
    ]
    by_tier = {
        tier: [lead for lead in clean if lead.note == tier] for tier in ("hot", "warm", "cold")
    }
    chosen = (
        rng.sample(by_tier["hot"], 9)
        + rng.sample(by_tier["warm"], 4)
        + rng.sample(by_tier["cold"], JSONL_COUNT - 13)
    )
    order = {id(lead): i for i, lead in enumerate(rows)}
    jsonl = sorted(chosen, key=lambda lead: order[id(lead)])
    dataset = Dataset(rows, jsonl)
    check(dataset)
    return dataset


def check(dataset: Dataset) -> None:
    """Fail loudly if the generator ever breaks its own promises."""
    for lead in dataset.rows:
        row = lead.csv_row()
        assert all("\n" not in v and "\r" not in v for v in row), lead.email
        assert lead.updated >= lead.created, lead.email
        assert lead.created >= WINDOW_START and lead.updated < REFERENCE_NOW, lead.email
        for activity in lead.activities:
            assert "|" not in activity.detail and ";" not in activity.detail, activity
            if lead.role != "bad":
                assert activity.kind in ACTIVITY_KINDS, activity
                assert lead.created <= activity.at <= lead.updated, (lead.email, activity)
        if lead.role == "duplicate":
            assert lead.twin is not None and lead.updated > lead.twin.updated, lead.email
    assert len(LONG_COMPANY_NAME) > SALESFORCE_TEXT_LIMIT


# --------------------------------------------------------------------------- #
# Output
# --------------------------------------------------------------------------- #


def write_csv(path: Path, rows: Sequence[Lead]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\r\n")  # RFC 4180
        writer.writerow(COLUMNS)
        writer.writerows(lead.csv_row() for lead in rows)


def write_jsonl(path: Path, leads: Sequence[Lead]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="\n") as handle:
        for lead in leads:
            handle.write(json.dumps(lead.json_record(), ensure_ascii=False) + "\n")


def summary(dataset: Dataset) -> str:
    rows = dataset.rows
    unique = [r for r in rows if r.role == "unique"]
    dups = [r for r in rows if r.role == "duplicate"]
    bad = [r for r in rows if r.role == "bad"]
    strong = sum(is_strongly_engaged(r) for r in rows)
    strong_unique = sum(is_strongly_engaged(r) for r in unique)
    lines = [
        f"rows: {len(rows)} (+ header)",
        f"unique people (valid): {len(unique)}, strongly engaged: {strong_unique} "
        f"({strong_unique / len(unique):.0%})",
        f"strongly engaged rows overall: {strong} ({strong / len(rows):.0%})",
        f"duplicates: {len(dups)} ({len(dups) / len(rows):.1%})",
    ]
    for dup in dups:
        assert dup.twin is not None
        lines.append(
            f"  line {dataset.line_of(dup):>3} repeats line "
            f"{dataset.line_of(dup.twin):>3}: {dup.note}"
        )
    lines.append(f"bad rows: {len(bad)} ({len(bad) / len(rows):.1%})")
    lines += [f"  line {dataset.line_of(b):>3}: {b.note}" for b in bad]
    lines.append(
        "jsonl leads (same as csv lines): "
        + ", ".join(str(dataset.line_of(lead)) for lead in dataset.jsonl)
    )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    here = Path(__file__).resolve().parent
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "--out",
        type=Path,
        default=here / "leads.csv",
        help="CSV file to write (default: examples/leads.csv)",
    )
    parser.add_argument(
        "--jsonl",
        type=Path,
        default=None,
        help="JSON Lines file to write (default: next to --out, .jsonl)",
    )
    parser.add_argument(
        "--seed", type=int, default=DEFAULT_SEED, help=f"random seed (default: {DEFAULT_SEED})"
    )
    parser.add_argument(
        "--count",
        type=int,
        default=DEFAULT_COUNT,
        help=f"total CSV data rows (default: {DEFAULT_COUNT})",
    )
    parser.add_argument("--quiet", action="store_true", help="do not print the summary")
    args = parser.parse_args(argv)

    dataset = build(args.seed, args.count)
    jsonl_path: Path = args.jsonl or args.out.with_suffix(".jsonl")
    write_csv(args.out, dataset.rows)
    write_jsonl(jsonl_path, dataset.jsonl)
    if not args.quiet:
        print(f"wrote {args.out} and {jsonl_path}")
        print(summary(dataset))
    return 0


if __name__ == "__main__":
    sys.exit(main())
