"""Write the sample CSVs in this folder: small, deterministic, and awkward on purpose.

    python data/samples/make_samples.py

- ``contacts.csv`` (300 rows): snake_case columns plus Segment's camelCase ``extRef``;
  ``plan``, ``city``, ``signup_date``, ``attributes`` (JSON-object text) and ``notes``
  are extra columns to map into ``embedded_data``. Awkward rows: bad e-mails, rows with
  no identity, accents, CJK and emoji in names, the same e-mail in two cases, a repeated
  ``extRef``, phones with leading zeros, ``unsubscribed`` spelled many ways (one ``yes``),
  a ``notes`` value longer than 1,024 characters.
- ``transactions.csv`` (300 rows): the person (``ext_ref``/``email``/``phone``, names),
  ``transaction_date`` in several formats (ISO with and without offset, epoch ms, a bare
  date, one unparseable), ``amount``, ``currency``, ``product``, ``basket`` (JSON text).
  Most rows have no ``contact_id`` and are looked up; two carry a made-up ``CID_…`` that
  no directory holds (the sandbox will refuse those transactions: that is on purpose).
  Ten rows belong to one person who is in no directory yet.
- ``workflow_events.csv`` (300 rows): ``event``, ``user_id``, ``email``, ``properties``
  (JSON text; one is a list, one is broken JSON), ``timestamp``.

Directory, mailing-list and workflow ids are not in these files: pass them as keywords.
Only the standard library and polars are used; the seed fixes every value.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from pathlib import Path

import polars as pl

HERE = Path(__file__).resolve().parent
SEED = 20240501
ROWS = 300

FIRST = [
    "Ana",
    "José",
    "Zoë",
    "Łukasz",
    "Søren",
    "Nguyễn",
    "李",
    "王芳",
    "Aoife",
    "Chloé",
    "Mário",
    "Björk",
    "Ngozi",
    "Olu",
    "Priya",
    "Kai",
    "Émile",
    "Fatima",
    "Yuki",
    "Tomás",
]
LAST = [
    "Silva",
    "Müller",
    "O'Brien",
    "García",
    "Håkansson",
    "Văn",
    "明",
    "田中",
    "Smith",
    "Dubois",
    "Kowalski",
    "Nakamura",
    "Okafor",
    "Rossi",
    "Jones",
    "Ivanova",
]
CITIES = ["Lisboa", "München", "Kraków", "São Paulo", "東京", "Reykjavík", "Lagos", None]
PLANS = ["free", "pro", "team", "enterprise", None]
LANGS = ["EN", "DE", "PT-BR", "ZH-S", "JA", "FR", None, None]
UNSUBSCRIBED = ["true", "false", "TRUE", "False", "0", "1", None, None, None, None]
BAD_EMAILS = [
    "bob@",
    "no-at-sign.example.com",
    "two@@example.com",
    "spaces in@example.com",
    "trailing.dot@example.",
]


def _email(first: str, last: str, i: int) -> str:
    local = "".join(
        c for c in f"{first}.{last}".lower() if (c.isascii() and c.isalnum()) or c == "."
    )
    return f"{local.strip('.') or 'user'}{i}@example.com"


def _phone(rng: random.Random) -> str | None:
    return rng.choice(
        [f"000555{rng.randint(0, 9999):04d}", f"+351 9{rng.randint(10000000, 99999999)}", None]
    )


def contacts(rng: random.Random) -> pl.DataFrame:
    rows = []
    for i in range(ROWS):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        attrs = {
            "tier": rng.choice(["gold", "silver", "bronze"]),
            "tags": rng.sample(["a", "b", "c", "vip", "beta"], k=rng.randint(0, 3)),
        }
        rows.append(
            {
                "extRef": f"C{i:06d}" if rng.random() < 0.8 else None,
                "email": _email(first, last, i) if rng.random() < 0.85 else None,
                "phone": _phone(rng),
                "first_name": first if rng.random() < 0.95 else None,
                "last_name": last,
                "language": rng.choice(LANGS),
                "unsubscribed": rng.choice(UNSUBSCRIBED),
                "plan": rng.choice(PLANS),
                "city": rng.choice(CITIES),
                "signup_date": (
                    dt.date(2020, 1, 1) + dt.timedelta(days=rng.randint(0, 1500))
                ).isoformat(),
                "attributes": json.dumps(attrs) if rng.random() < 0.7 else None,
                "notes": None,
            }
        )
    _make_awkward(rows)
    return pl.DataFrame(rows, schema={k: pl.String for k in rows[0]})


def _make_awkward(rows: list[dict[str, str | None]]) -> None:
    for n, bad in enumerate(BAD_EMAILS):
        rows[10 + n]["email"] = bad
    for n in range(4):  # no identity at all
        rows[20 + n].update(extRef=None, email=None, phone=None)
    rows[30]["email"], rows[31]["email"] = "Ana.Silva@Example.com", "ana.silva@example.com"
    rows[31]["extRef"] = rows[30]["extRef"] = "C000030"  # the same person twice
    rows[32]["extRef"] = rows[33]["extRef"] = "C000032"  # a repeated extRef, different e-mails
    rows[40].update(first_name="🙂 Sunny", last_name="Day ☀️")
    rows[41].update(first_name="  padded  ", last_name="   ")
    rows[50]["unsubscribed"] = "yes"  # not a boolean: this row is invalid
    rows[60]["notes"] = "Long note. " * 100  # 1,100 characters: over the embedded-data limit
    rows[61]["notes"] = 'Short note with a "quote", a comma and a\nnew line.'
    rows[70]["attributes"] = '{"tier":"gold","tags":["a","b"],"address":{"city":"Porto"}}'
    rows[71]["attributes"] = "[1, 2, 3]"  # JSON, but not an object


TX_DATE_FORMATS = ["iso_z", "iso_offset", "naive", "epoch_ms", "date"]


def _tx_date(rng: random.Random, when: dt.datetime) -> str:
    kind = rng.choice(TX_DATE_FORMATS)
    if kind == "iso_z":
        return when.strftime("%Y-%m-%dT%H:%M:%SZ")
    if kind == "iso_offset":
        return when.astimezone(dt.timezone(dt.timedelta(hours=2))).isoformat()
    if kind == "naive":
        return when.strftime("%Y-%m-%d %H:%M:%S")
    if kind == "epoch_ms":
        return str(int(when.timestamp() * 1000))
    return when.date().isoformat()


def transactions(rng: random.Random, people: pl.DataFrame) -> pl.DataFrame:
    known = people.filter(pl.col("extRef").is_not_null() | pl.col("email").is_not_null())
    start = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    rows = []
    for _ in range(ROWS):
        person = known.row(rng.randrange(known.height), named=True)
        when = start + dt.timedelta(minutes=rng.randint(0, 200_000))
        product = rng.choice(["Café latte", "Tea", "Croissant", "抹茶", "Gift card 🎁", "Bagel"])
        basket = {"items": rng.randint(1, 5), "coupon": rng.choice([None, "SPRING10"])}
        rows.append(
            {
                "ext_ref": person["extRef"],
                "email": person["email"] if rng.random() < 0.7 or not person["extRef"] else None,
                "phone": person["phone"] if rng.random() < 0.3 else None,
                "first_name": person["first_name"],
                "last_name": person["last_name"],
                "contact_id": None,
                "transaction_date": _tx_date(rng, when) if rng.random() < 0.95 else None,
                "amount": f"{rng.randint(100, 9999) / 100:.2f}",
                "currency": rng.choice(["EUR", "USD", "GBP", "JPY"]),
                "product": product,
                "basket": json.dumps(basket) if rng.random() < 0.5 else None,
            }
        )
    for n in range(10):  # ten transactions of one new person: one contact, not ten
        rows[100 + n].update(
            ext_ref="NEW-0001",
            email="New.Person@example.com",
            phone=None,
            first_name="Newt",
            last_name="Person",
        )
    rows[120]["contact_id"], rows[121]["contact_id"] = "CID_SAMPLE000001", "CID_SAMPLE000002"
    rows[130]["transaction_date"] = "next tuesday"  # unparseable: this row is invalid
    rows[131].update(ext_ref=None, email=None, phone=None)  # nobody: invalid
    rows[132]["email"] = "EMAIL@EXAMPLE.COM "
    return pl.DataFrame(rows, schema={k: pl.String for k in rows[0]})


def workflow_events(rng: random.Random, people: pl.DataFrame) -> pl.DataFrame:
    start = dt.datetime(2024, 3, 1, tzinfo=dt.UTC)
    rows = []
    for _ in range(ROWS):
        person = people.row(rng.randrange(people.height), named=True)
        event = rng.choice(["Signed Up", "Order Completed", "Churn Risk", "NPS Submitted"])
        props: dict[str, object] = {"source": rng.choice(["web", "ios", "android"])}
        if event == "Order Completed":
            props.update(total=rng.randint(100, 9999) / 100, items=[{"sku": "A-1", "qty": 1}])
        if event == "NPS Submitted":
            props.update(score=rng.randint(0, 10), comment=rng.choice(["Très bien", "最高", None]))
        rows.append(
            {
                "event": event,
                "user_id": person["extRef"],
                "email": person["email"],
                "properties": json.dumps(props, ensure_ascii=False),
                "timestamp": (start + dt.timedelta(seconds=rng.randint(0, 5_000_000))).isoformat(),
            }
        )
    rows[7]["properties"] = "[1, 2]"  # JSON, but not an object
    rows[8]["properties"] = "{broken json"
    rows[9]["user_id"] = rows[9]["email"] = None
    return pl.DataFrame(rows, schema={k: pl.String for k in rows[0]})


def main(out_dir: Path = HERE) -> None:
    """Write the three CSVs into ``out_dir`` (this folder by default)."""
    rng = random.Random(SEED)
    people = contacts(rng)
    people.write_csv(out_dir / "contacts.csv")
    transactions(rng, people).write_csv(out_dir / "transactions.csv")
    workflow_events(rng, people).write_csv(out_dir / "workflow_events.csv")


if __name__ == "__main__":
    main()
