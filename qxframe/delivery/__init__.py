"""Delivery: the one place qxframe talks HTTP (docs/architecture.md, "Delivery").

Everything between a request body and Qualtrics' answer, and nothing that knows what a
push or a row is. Reading order:

- ``_client``: :class:`~qxframe.delivery._client.Client`, one method per endpoint;
- ``_transport``: the httpx transport wrapper: in-flight limits (``_inflight``), rate
  limits (``_ratelimit``), retries (``_retry``), and the one place httpx's exceptions
  become qxframe's;
- ``_envelope``: Qualtrics' envelopes into replies or typed errors; ``_paging``: list
  endpoints followed page by page;
- ``_urls``: where the token may go, and URLs shown with their secrets hidden;
- ``_config``: the settings (datacenter or base URL, rate limits, retry policy, the
  secret token);
- ``_pools`` and ``_loop``: connection pools per event loop, and the client's background
  loop that lets the sync API run anywhere.

This package imports nothing at import time.
"""
