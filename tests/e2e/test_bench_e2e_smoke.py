"""The end-to-end benchmark's own parts: the counting proxy and the labelled history.

The proxy must count what the real clients send and keep them coming through
it (rewritten answers), or every cycle figure of ``bench/dedupe_e2e.py`` is
wrong; the generator's labels are its ground truth.
"""

from __future__ import annotations

from collections import Counter

import pytest
import requests
from hubspot import HubSpot
from simple_salesforce import Salesforce

from bench.configs import free_port
from bench.crm_history import HARD, VARIATIONS, generate
from bench.proxy import CountingProxy, category
from connector.matching.keys import email_key, phone_key
from connector.sandbox.hubspot import HubSpotSandbox
from connector.sandbox.salesforce import SalesforceSandbox
from connector.transport import make_session


@pytest.mark.parametrize(("method_path", "expected"), [
    ("/services/Soap/u/59.0", "login"),
    ("/services/oauth2/token", "login"),
    ("/services/data/v59.0/sobjects/Lead/describe/", "describe"),
    ("/services/data/v59.0/query/?q=SELECT+Id+FROM+Lead", "query"),
    ("/services/data/v59.0/query/01gxx-2000", "query"),
    ("/services/data/v59.0/composite/sobjects/Lead/Leadsync_Id__c", "composite/sobjects"),
    ("/services/data/v59.0/composite", "composite"),
    ("/services/data/v59.0/jobs/ingest/750xx/batches", "bulk"),
    ("/services/data/v59.0/search/?q=FIND", "search"),
    ("/services/data/v59.0/limits/", "limits"),
    ("/services/data/v59.0/sobjects/Lead/updated/?start=x", "changes"),
    ("/services/data/v59.0/sobjects/Lead/00Qxx", "sobject"),
    ("/crm/v3/objects/contacts/search", "hubspot search"),
    ("/crm/v3/objects/contacts/batch/upsert", "hubspot batch/upsert"),
    ("/crm/v4/associations/contacts/companies/batch/read", "hubspot associations batch/read"),
    ("/crm/v4/objects/contacts/51/associations/companies", "hubspot associations"),
    ("/crm/v3/objects/contacts/51", "hubspot record"),
    ("/crm/v3/objects/contacts", "hubspot list"),
    ("/crm/v3/owners/", "hubspot owners"),
])
def test_paths_fall_into_their_category(method_path: str, expected: str) -> None:
    assert category(method_path) == expected


def test_salesforce_calls_are_counted_and_the_login_answer_names_the_proxy() -> None:
    port = free_port()
    sandbox = SalesforceSandbox(instance_host=f"127.0.0.1:{port}")  # an org naming itself
    sandbox.start(port=port)
    try:
        with CountingProxy(sandbox.address, latency=0.01) as proxy:
            sf = Salesforce(username="admin@leadsync.sandbox", password="sandbox",
                            security_token="", session=make_session(proxy.address))
            assert sf.sf_instance == proxy.address  # serverUrl rewritten
            sf.Lead.create({"LastName": "Wire", "Company": "Counted"})
            sf.Lead.describe()
            assert sf.query("SELECT Id FROM Lead")["totalSize"] == 1
            assert proxy.counts() == {"POST login": 1, "POST sobject": 1, "GET describe": 1,
                                      "GET query": 1}
            assert proxy.reset() and proxy.total == 0
    finally:
        sandbox.stop()


def test_hubspot_paging_links_are_rewritten_to_the_proxy() -> None:
    with HubSpotSandbox() as portal:
        hub = HubSpot(access_token=portal.token, host=portal.base_url)
        hub.crm.contacts.batch_api.create({"inputs": [
            {"properties": {"email": f"p{i}@paged.example"}} for i in range(3)]})
        with CountingProxy(portal.address) as proxy:
            answer = requests.get(f"http://{proxy.address}/crm/v3/objects/contacts?limit=2",
                                  headers={"Authorization": f"Bearer {portal.token}"},
                                  timeout=10)
            link = answer.json()["paging"]["next"]["link"]
            assert link.startswith(f"http://{proxy.address}/")
            rest = requests.get(link, headers={"Authorization": f"Bearer {portal.token}"},
                                timeout=10).json()
            assert len(rest["results"]) == 1
            assert proxy.counts() == {"GET hubspot list": 2}


def test_history_labels_are_consistent() -> None:
    history = generate(history=1_200, leads=400, seed=3)
    assert history.records >= 1_200
    kinds = Counter(lead.kind for lead in history.leads)
    assert set(kinds) == {*VARIATIONS, *HARD, "new"}
    emails = [lead.row["email"].lower() for lead in history.leads]
    assert len(set(emails)) == len(emails)  # one marketing lead per address
    for lead in history.leads:
        if lead.kind in VARIATIONS:
            assert lead.label is not None and lead.near is None
        else:
            assert lead.label is None
            assert (lead.near is not None) == (lead.kind in HARD)
    used = [lead.label for lead in history.leads if lead.label is not None] + \
        [lead.near for lead in history.leads if lead.near is not None]
    assert len(used) == len(set(used))  # each CRM person is the twin of one lead at most


def test_each_variation_changes_what_it_names_and_keeps_the_person() -> None:
    history = generate(history=1_200, leads=400, seed=3)
    for lead in history.leads:
        if lead.label is None:
            continue
        crm, row = history.people[lead.label], lead.row
        if lead.kind == "gmail":
            assert row["email"] != crm["email"]
            assert email_key(row["email"]) == email_key(crm["email"])  # one mailbox
        if lead.kind == "phone_format":
            assert row["phone"] != crm["phone"]
            assert phone_key(row["phone"], crm["country"]) == phone_key(crm["phone"])
        if lead.kind == "swapped":
            assert (row["first_name"], row["last_name"]) == (crm["last_name"],
                                                             crm["first_name"])
        if lead.kind == "missing_fields":
            assert not row["phone"] and row["company"] == crm["company"]


def test_hard_negatives_share_what_makes_them_hard() -> None:
    history = generate(history=1_200, leads=400, seed=3)
    for lead in history.leads:
        if lead.near is None:
            continue
        crm, row = history.people[lead.near], lead.row
        same_name = (row["first_name"], row["last_name"]) == (crm["first_name"],
                                                              crm["last_name"])
        expected = {
            "switchboard": row["phone"] == crm["phone"] and not same_name,
            "role_mailbox": row["email"] == crm["email"] and not same_name,
            "namesake": same_name and row["company"] != crm["company"],
            "relative": row["last_name"] == crm["last_name"] and
            row["street"] == crm["street"] and row["first_name"] != crm["first_name"],
            "same_name_same_company": same_name and row["company"] == crm["company"] and
            row["email"] != crm["email"],
        }[lead.kind]
        assert expected, (lead.kind, row, crm)
