"""A Salesforce-compatible server for tests and demos (SOAP login, REST, SOQL).

The real, unmodified simple-salesforce client talks to it over HTTP::

    from simple_salesforce import Salesforce
    from connector.sandbox.salesforce import SalesforceSandbox
    from connector.transport import make_session

    with SalesforceSandbox(seed={"Lead": [{"LastName": "Ng", "Company": "Acme"}]}) as sandbox:
        sf = Salesforce(username="admin@leadsync.sandbox", password="sandbox",
                        security_token="", session=make_session(sandbox.address))
        sf.query("SELECT Id, Name, Owner.Name FROM Lead")

What a caller can rely on:

* Objects: Lead (standard fields plus ``Leadsync_Id__c``, external id and
  unique, and ``Leadsync_Score__c``), Account, Contact, Opportunity, Task,
  and User (read-only over the API); read-only setup and history objects
  LeadStatus (the Lead Status picklist, ``lead_statuses=``), LeadHistory and
  OpportunityFieldHistory (rows for every change to a tracked field,
  ``field_history=``), queryable but not in the global describe.
* APIs: REST records, SOQL (``query`` and ``queryAll``, which adds deleted
  and merged records: IsDeleted, MasterRecordId), sObject Collections
  (``composite/sobjects``), Bulk API 2.0 ingest and query jobs
  (``jobs/ingest``, ``jobs/query``; a job takes ``bulk_base_seconds +
  records * bulk_seconds_per_record``, polled through InProgress) and the
  SOAP ``convertLead`` and ``merge`` calls (``partner.py``).
* Acting as a user without an API call: ``create``, ``update`` (a rep's
  edit: stamps move, LastModifiedBy is the owner), ``delete`` (to the
  Recycle Bin), ``merge`` (duplicates into a master) and ``convert_lead``;
  refusals raise ``WriteRejected`` with Salesforce's errors.
* Users: the API user (``admin@leadsync.sandbox`` by default) and the reps
  ``avery.chen``, ``jordan.patel``, ``morgan.diaz``, ``riley.okafor`` (active)
  and ``casey.brooks`` (inactive), all ``@leadsync.sandbox``. Ids are
  deterministic: a fresh org mints the same ids in the same order.
* Seeds: ``{"User": [...], "Lead": [...]}``; rows are validated like API
  writes but may set read-only fields (Id, CreatedDate...), and a Lead's
  ``OwnerId`` may be a Username.
* Time: every stamp, session expiry (2 h idle) and the daily API counter
  follow the injected ``clock``.
* ``request_count`` (every request, login included), ``api_usage`` (what
  ``Sforce-Limit-Info`` reports) and ``records(name)`` (stored rows, no API
  call) are there for assertions.
* Operations: ``session_seconds`` and ``expire_sessions()``; a
  ``daily_api_allocation`` enforced with 403 REQUEST_LIMIT_EXCEEDED and
  ``set_api_usage(n)``; OAuth 2.0 password and client-credentials grants at
  ``/services/oauth2/token`` (``consumer_key``/``consumer_secret``);
  ``faults`` (``Faults``: latency, 503s, dropped connections, timeouts,
  seeded) with ``faulted_count`` and ``fault_log``; the ``updated``/``deleted``
  replication feeds; SOQL date literals.
"""

from .faults import FaultEvent, Faults
from .objects import DEFAULT_FIELD_HISTORY, DEFAULT_LEAD_STATUSES, LeadStatusValue
from .sandbox import SalesforceSandbox, WriteRejected
from .store import SeedError

__all__ = [
    "DEFAULT_FIELD_HISTORY",
    "DEFAULT_LEAD_STATUSES",
    "FaultEvent",
    "Faults",
    "LeadStatusValue",
    "SalesforceSandbox",
    "SeedError",
    "WriteRejected",
]
