"""The sandbox's transactions and transaction batches, over the store's state and lock.

This module owns which transactions land (``createdTransactions`` /
``unprocessedTransactions`` per key, docs/qualtrics-api.md §8), transactions by id
(read, update, delete), a contact's transactions, and transaction batches (create, list,
add and list their transactions). Rows are kept as the dicts ``sb.transactions()`` shows;
no HTTP here.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from qxframe._sandbox._model import now
from qxframe._sandbox._rules import StoreError, check_batch_date, transaction_problem
from qxframe._sandbox._store import Store


class Transactions:
    """Transactions and batches of one :class:`Store`."""

    def __init__(self, store: Store) -> None:
        self.store = store

    # -- transactions ------------------------------------------------------------

    def add(self, directory_id: str, body: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        """Store every valid transaction; return (createdTransactions, unprocessed)."""
        directory = self.store.directory(directory_id)
        if not isinstance(body, dict):
            raise StoreError(
                400,
                "QVAL_1",
                "The request body must be a JSON object of transactions keyed by your own keys.",
            )
        lists = {ml.mailing_list_id for ml in self.store.lists_of(directory.directory_id)}
        created: dict[str, Any] = {}
        unprocessed: dict[str, Any] = {}
        with self.store.lock:
            contacts = self.store.state.contacts.in_directory(directory_id)
            for key, tx in body.items():
                problem = transaction_problem(tx, contacts, lists)
                if problem:
                    unprocessed[key] = {"error": problem[0], "errorMessage": problem[1]}
                    continue
                created[key] = {"id": self.store_one(directory_id, key, tx)}
        return created, unprocessed

    def store_one(self, directory_id: str, key: str, tx: dict[str, Any]) -> str:
        tx_id = self.store.new_id("TR_")
        row = {
            "transaction_id": tx_id,
            "directory_id": directory_id,
            "contact_id": tx["contactId"],
            "mailing_list_id": tx["mailingListId"],
            "transaction_date": tx["transactionDate"],
            "data": json.dumps(tx["data"], ensure_ascii=False),
            "key": key,
        }
        self.store.state.transactions.append(row)
        self.store.state.transactions_by_id[tx_id] = row
        return tx_id

    def get(self, directory_id: str, transaction_id: str) -> dict[str, Any]:
        table = self.store.state.transactions_by_id
        return self._in_directory(table, directory_id, transaction_id, "Transaction")

    def _in_directory(
        self, table: dict[str, dict[str, Any]], directory_id: str, key: str, what: str
    ) -> dict[str, Any]:
        """``table[key]`` if it belongs to ``directory_id`` (which must exist), else 404."""
        self.store.directory(directory_id)
        with self.store.lock:
            found = table.get(key)
        if found is None or found["directory_id"] != directory_id:
            raise StoreError(404, "RCE_1", f"{what} not found in {directory_id}: {key}.")
        return found

    def update(self, directory_id: str, transaction_id: str, body: Any) -> None:
        """PUT: the keys given replace theirs (``data`` keys merge), checked as on create."""
        row = self.get(directory_id, transaction_id)
        if not isinstance(body, dict):
            raise StoreError(400, "QVAL_1", "The request body must be a JSON object.")
        merged = {
            "contactId": row["contact_id"],
            "mailingListId": row["mailing_list_id"],
            "transactionDate": row["transaction_date"],
            "data": {**json.loads(row["data"]), **(body.get("data") or {})},
            **{k: v for k, v in body.items() if k != "data"},
        }
        lists = {ml.mailing_list_id for ml in self.store.lists_of(directory_id)}
        with self.store.lock:
            contacts = self.store.state.contacts.in_directory(directory_id)
            problem = transaction_problem(merged, contacts, lists)
            if problem:
                raise StoreError(400, "QVAL_1", problem[1])
            row["contact_id"] = merged["contactId"]
            row["mailing_list_id"] = merged["mailingListId"]
            row["transaction_date"] = merged["transactionDate"]
            row["data"] = json.dumps(merged["data"], ensure_ascii=False)

    def delete(self, directory_id: str, transaction_id: str) -> None:
        row = self.get(directory_id, transaction_id)
        with self.store.lock:
            self.store.state.transactions.remove(row)
            del self.store.state.transactions_by_id[transaction_id]
            for batch in self.store.state.batches.values():
                if transaction_id in batch["transaction_ids"]:
                    batch["transaction_ids"].remove(transaction_id)

    def of_contact(self, directory_id: str, ref: str) -> list[dict[str, Any]]:
        contact = self.store.contact(directory_id, ref)
        with self.store.lock:
            return [
                row
                for row in self.store.state.transactions
                if row["contact_id"] == contact.contact_id and row["directory_id"] == directory_id
            ]

    # -- batches -----------------------------------------------------------------

    def create_batch(self, directory_id: str, body: Any) -> str:
        self.store.directory(directory_id)
        if not isinstance(body, dict):
            raise StoreError(400, "QVAL_1", "The request body must be a JSON object.")
        created = body.get("creationDate")
        created = check_batch_date(created) if created is not None else _iso(now())
        ids = self._known_ids(directory_id, body.get("transactionIds", []))
        with self.store.lock:
            batch_id = self.store.new_id("BT_")
            self.store.state.batches[batch_id] = {
                "batch_id": batch_id,
                "directory_id": directory_id,
                "creation_date": created,
                "transaction_ids": list(dict.fromkeys(ids)),
            }
            return batch_id

    def batch(self, directory_id: str, batch_id: str) -> dict[str, Any]:
        table = self.store.state.batches
        return self._in_directory(table, directory_id, batch_id, "Transaction batch")

    def batches(self, directory_id: str) -> list[dict[str, Any]]:
        self.store.directory(directory_id)
        with self.store.lock:
            return [
                b for b in self.store.state.batches.values() if b["directory_id"] == directory_id
            ]

    def add_to_batch(self, directory_id: str, batch_id: str, body: Any) -> None:
        batch = self.batch(directory_id, batch_id)
        if not isinstance(body, dict) or "transactionIds" not in body:
            raise StoreError(400, "QVAL_1", 'The body must be {"transactionIds": [...]}.')
        ids = self._known_ids(directory_id, body["transactionIds"])
        with self.store.lock:
            held = batch["transaction_ids"]
            held.extend(i for i in dict.fromkeys(ids) if i not in held)

    def batch_transactions(self, directory_id: str, batch_id: str) -> list[dict[str, Any]]:
        batch = self.batch(directory_id, batch_id)
        with self.store.lock:
            by_id = self.store.state.transactions_by_id
            return [by_id[i] for i in batch["transaction_ids"] if i in by_id]

    def _known_ids(self, directory_id: str, ids: Any) -> list[str]:
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise StoreError(400, "QVAL_1", "transactionIds must be a list of transaction ids.")
        for transaction_id in ids:
            self.get(directory_id, transaction_id)
        return ids


def _iso(when: dt.datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")
