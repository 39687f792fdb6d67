"""A HubSpot-compatible CRM v3/v4 server for tests and demos.

The real, unmodified ``hubspot-api-client`` (v12) talks to it over HTTP::

    from hubspot import HubSpot
    from connector.sandbox.hubspot import HubSpotSandbox

    with HubSpotSandbox() as sandbox:
        client = HubSpot(access_token="sandbox-token", host=sandbox.base_url)
        client.crm.contacts.basic_api.create(
            SimplePublicObjectInputForCreate(properties={"email": "ng@acme.test"})
        )

What a caller can rely on:

* Objects: contacts (standard properties plus ``leadsync_id``, unique, usable
  as ``idProperty``, and ``leadsync_score``), companies, deals (default
  pipeline, computed ``hs_is_closed``/``hs_is_closed_won``), and the activities:
  calls, emails, meetings, notes, tasks (``hs_timestamp``, owner, bodies, outcomes).
* APIs: ``/crm/v3/objects/{type}`` (CRUD, ``idProperty`` reads and
  updates, list paging), ``/batch/{create,read,update,upsert,archive}``
  (100 inputs), ``/search``, ``/crm/v3/properties/{type}``,
  ``/crm/v3/owners``, associations v4 (list, batch read, default and
  labelled create, archive).
* Writes are validated against the property definitions with HubSpot's
  error bodies; contact emails and unique properties answer 409 CONFLICT
  naming the existing id; lifecycle stages only move forward.
* Bearer-token auth (``token``); rate limits with HubSpot's headers and 429
  bodies (ten-second window, daily quota, search per second); the shared
  fault script (latency, 502/503, drops, ``fail_at``).
* Merges (``/crm/v3/objects/{contacts,companies,deals}/merge``) make a new
  record with a new id; the old ids keep answering reads and writes with it.
  Archived records are read with ``archived=true``; ``propertiesWithHistory``
  returns every change with its source (``INTEGRATION`` for the API,
  ``CRM_UI`` for a rep) on the injected clock.
* Helpers that play a sales rep without API calls: ``create``, ``update``,
  ``set_owner``, ``associate``, ``create_deal``, ``archive``, ``merge``; and
  ``records``/``history``/``associations``/``request_count`` for assertions.
* Time: every stamp and every limit window follow the injected ``clock``.
"""

from ..faults import FaultEvent, Faults
from .sandbox import HubSpotSandbox, SeedError, WriteRejected

__all__ = ["FaultEvent", "Faults", "HubSpotSandbox", "SeedError", "WriteRejected"]
