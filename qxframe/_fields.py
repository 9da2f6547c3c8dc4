"""The catalogue: which fields and options each action takes, and what each one is.

This module owns the names. A field has a snake_case ``name`` (what ``mapping`` keys and
frame columns use), Segment's camelCase ``alias`` (also accepted as a column name), a
``kind`` that decides how its values are normalised and checked, the ``body_key`` it is
sent as (``None`` when it goes into a URL or, for ``event_payload``, is the whole body),
and the rules it carries (an id ``prefix``, a ``format``, ``max_bytes``). An action also
has its options (:func:`options_for`) and the fields that identify its rows' contact
(:func:`identity_fields`). The action registry, the public signatures, the CLI's options,
the widgets' pickers, validation and the payload builders all read this module
(docs/architecture.md, "Where each change goes").

>>> [f.name for f in fields_for("workflow")]
['workflow_url', 'event_payload']
>>> field("transactions", "transaction_data").body_key
'data'
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Final, Literal

from qxframe.exceptions import ConfigError

Kind = Literal["identifier", "string", "url", "bool", "date", "object"]

#: A reasonable e-mail syntax: one ``@``, no spaces or list punctuation, a dotted domain.
_LOCAL = r'[^@\s,;<>()\[\]"\\]+'
_LABEL = r'[^@\s,;<>()\[\]"\\.]'
EMAIL_PATTERN: Final = rf"^{_LOCAL}@{_LABEL}+(\.{_LABEL}+)*\.{_LABEL}{{2,}}$"
#: The largest workflow event body Qualtrics takes, in bytes of JSON.
MAX_WORKFLOW_BYTES: Final = 102_400


@dataclass(frozen=True)
class Field:
    """One field of an action."""

    name: str
    alias: str
    kind: Kind
    body_key: str | None
    #: ``POOL_``, ``CG_``, ``CID_`` for Qualtrics ids; ``None`` otherwise.
    prefix: str | None = None
    #: A destination field (``directory_id``, ``mailing_list_id``, ``workflow_url``): may be
    #: given as a constant keyword, and every row needs a value.
    destination: bool = False
    #: Whether every row needs a value of this destination field (contacts' optional
    #: ``mailing_list_id`` does not: without one a contact is created in the directory only).
    required: bool = True
    #: What a destination is, for people (the CLI's option help, the widgets' labels).
    help: str = ""
    #: A regular expression every value must match (rule ``<name>_format``).
    format: str | None = None
    #: The most bytes a value may take (rule ``payload_too_large``).
    max_bytes: int | None = None
    #: Without a column of its own, the field is the whole row (less the ``url`` field's
    #: column): a workflow's event body.
    whole_row: bool = False

    @property
    def metavar(self) -> str:
        """How a value is shown in usage text: ``POOL_ID``, ``CG_ID``, ``URL``…"""
        return f"{self.prefix}ID" if self.prefix else "URL"

    @property
    def pattern(self) -> re.Pattern[str] | None:
        """The whole-string pattern an identifier must match (prefix + safe characters)."""
        return None if self.prefix is None else id_pattern(self.prefix)


@functools.cache
def id_pattern(prefix: str) -> re.Pattern[str]:
    """An id: ``prefix`` then at least one letter, digit, ``_`` or ``-`` (``POOL_abc``).

    >>> bool(id_pattern("POOL_").fullmatch("POOL_x1")), bool(id_pattern("POOL_").fullmatch("POOL_"))
    (True, False)
    """
    return re.compile(re.escape(prefix) + r"[A-Za-z0-9_-]+")


def _contact_fields() -> tuple[Field, ...]:
    return (
        Field(
            "directory_id",
            "directoryId",
            "identifier",
            None,
            "POOL_",
            destination=True,
            help="the XM Directory (POOL_…) for every row (else a directory_id column)",
        ),
        Field("ext_ref", "extRef", "string", "extRef"),
        Field("email", "email", "string", "email", format=EMAIL_PATTERN),
        Field("phone", "phone", "string", "phone"),
        Field("first_name", "firstName", "string", "firstName"),
        Field("last_name", "lastName", "string", "lastName"),
        Field("language", "language", "string", "language"),
        Field("unsubscribed", "unsubscribed", "bool", "unsubscribed"),
        Field("embedded_data", "embeddedData", "object", "embeddedData"),
    )


def _removal_fields(list_role: str | None) -> tuple[Field, ...]:
    """A removal action's fields (DESIGN §7): its destination, and who (a contact id, or
    identity fields looked up as a transaction's are). ``list_role``: ``"required"``,
    ``"optional"`` (unsubscribe: list level with one, else directory level) or ``None``."""
    where = [
        Field("directory_id", "directoryId", "identifier", None, "POOL_", destination=True,
              help="the XM Directory (POOL_…) of every contact (else a directory_id column)"),
    ]  # fmt: skip
    if list_role is not None:
        where.append(
            Field("mailing_list_id", "mailingListId", "identifier", None, "CG_",
                  destination=True, required=list_role == "required",
                  help="the mailing list (CG_…) of every row (else a mailing_list_id column)"
                  + ("" if list_role == "required" else "; without one, the directory's")),
        )  # fmt: skip
    return (
        *where,
        Field("contact_id", "contactId", "identifier", None, "CID_"),
        Field("ext_ref", "extRef", "string", None),
        Field("email", "email", "string", None, format=EMAIL_PATTERN),
        Field("phone", "phone", "string", None),
    )


_CATALOGUE: Final[dict[str, tuple[Field, ...]]] = {
    "contacts": (
        *_contact_fields(),
        # sent in the URL: the contact is created in that list (docs/architecture.md,
        # "Mailing lists and import jobs")
        Field(
            "mailing_list_id",
            "mailingListId",
            "identifier",
            None,
            "CG_",
            destination=True,
            required=False,
            help="the mailing list (CG_…) to create every contact in (else a mailing_list_id "
            "column; without one, contacts go in the directory only)",
        ),
    ),
    "transactions": (
        *_contact_fields(),
        Field(
            "mailing_list_id",
            "mailingListId",
            "identifier",
            "mailingListId",
            "CG_",
            destination=True,
            help="the mailing list (CG_…) for every row (else a mailing_list_id column)",
        ),
        Field("contact_id", "contactId", "identifier", "contactId", "CID_"),
        Field("transaction_date", "transactionDate", "date", "transactionDate"),
        Field("transaction_data", "transactionData", "object", "data"),
    ),
    "workflow": (
        Field(
            "workflow_url",
            "workflowUrl",
            "url",
            None,
            destination=True,
            help="the workflow's JSON-event trigger URL (else a workflow_url column)",
        ),
        Field(
            "event_payload",
            "eventPayload",
            "object",
            None,
            max_bytes=MAX_WORKFLOW_BYTES,
            whole_row=True,
        ),
    ),
    # removal as frame operations (DESIGN §7; actions/_removals)
    "remove": _removal_fields("required"),
    "unsubscribe": _removal_fields("optional"),
    "delete": _removal_fields(None),
}

#: The actions, in the order people are shown them (the CLI's subcommands, the pickers).
ACTIONS: Final = tuple(_CATALOGUE)


@dataclass(frozen=True)
class Option:
    """A keyword argument of an action's function that is neither a field nor shared.

    The public function's signature, its type-checking ``TypedDict`` (a test holds them
    equal) and the CLI's ``--name`` option are all read from here.
    """

    name: str
    default: int | float | str | bool | None
    help: str
    #: the values a text option takes (``method``)
    choices: tuple[str, ...] = ()
    #: what it holds: a positive int (``count``), one of ``choices``, a switch (``flag``),
    #: a list of column names (``columns``: ``--json-columns a,b`` on the command line), or
    #: a share below 1 or a count of people (``share``: ``--max-leave 0.2``)
    kind: Literal["count", "choice", "flag", "columns", "share"] = "count"


#: How contacts are sent (docs/architecture.md, "Mailing lists and import jobs").
METHODS: Final = ("auto", "api", "import")

_IMPORT_OPTIONS: Final = (
    Option(
        "method",
        "auto",
        '"api": one request per contact; "import": import jobs of up to 10,000 contacts '
        '(needs a mailing list); "auto": import jobs for 1,000 rows or more in a list',
        choices=METHODS,
        kind="choice",
    ),
    Option("import_jobs", 25, "import jobs created and unfinished at once, at most"),
    Option(
        "import_timeout",
        1800,
        "seconds an import job may go without progress before its rows end outcome_unknown",
    ),
)


#: A sync's members who left the segment (DESIGN §7; ``actions/_leavers``).
_SYNC_OPTIONS: Final = (
    Option(
        "on_leave",
        None,
        'members this sync put in the mailing list who left the segment: "remove" (out of '
        'the list, still in the directory) or "unsubscribe" (from the list); needs a journal',
        choices=("remove", "unsubscribe"),
        kind="choice",
    ),
    Option(
        "max_leave",
        0.2,
        "refuse when more members would leave: a share (0.2) or a count of people (500)",
        kind="share",
    ),
)

_OPTIONS: Final[dict[str, tuple[Option, ...]]] = {
    "contacts": (*_IMPORT_OPTIONS, *_SYNC_OPTIONS),
    "transactions": (Option("batch_size", 100, "transactions per request"), *_IMPORT_OPTIONS),
    "workflow": (
        Option(
            "json_columns",
            None,
            "columns holding JSON text to send as JSON in the event (objects, arrays, "
            "numbers), not as strings; a cell that is not JSON makes its row invalid",
            kind="columns",
        ),
        Option(
            "correlate",
            False,
            "add qx_run (one id for the push) and qx_row (the input row) to each event, to "
            "find the push in the workflow's run history",
            kind="flag",
        ),
    ),
    "remove": (),
    "unsubscribe": (),
    "delete": (),
}


def options_for(action: str) -> tuple[Option, ...]:
    """The options of ``action`` besides its destinations and the shared ones.

    >>> [o.name for o in options_for("transactions")]
    ['batch_size', 'method', 'import_jobs', 'import_timeout']
    """
    return _OPTIONS[check_action(action)]


#: Object fields whose nested values are sent as a JSON string each (embedded and
#: transaction data); ``event_payload`` keeps nested values as JSON structure.
FLAT_OBJECTS: Final = frozenset({"embedded_data", "transaction_data"})

#: Fields that identify a contact, in the order a directory search filters on them.
LOOKUP_FIELDS: Final = ("ext_ref", "phone", "email")

#: What identifies each row's contact (a row needs one, rule ``missing_identity``), in
#: the order people are told of them.
_IDENTITY: Final[dict[str, tuple[str, ...]]] = {
    "contacts": ("ext_ref", "email", "phone"),
    "transactions": ("contact_id", "ext_ref", "email", "phone"),
    "workflow": (),
    "remove": ("contact_id", "ext_ref", "email", "phone"),
    "unsubscribe": ("contact_id", "ext_ref", "email", "phone"),
    "delete": ("contact_id", "ext_ref", "email", "phone"),
}


def identity_fields(action: str) -> tuple[str, ...]:
    """The fields of which each row of ``action`` needs one (none: no such rule).

    >>> identity_fields("transactions")
    ('contact_id', 'ext_ref', 'email', 'phone')
    """
    return _IDENTITY[check_action(action)]


def check_action(action: str) -> str:
    """Return ``action`` if it is one of :data:`ACTIONS`, else raise ``ConfigError``."""
    if action not in _CATALOGUE:
        raise ConfigError(f"unknown action {action!r}; use one of {', '.join(ACTIONS)}")
    return action


def fields_for(action: str) -> tuple[Field, ...]:
    """The fields of ``action``, in a stable order (destinations first)."""
    return _CATALOGUE[check_action(action)]


def destinations(action: str) -> tuple[Field, ...]:
    """The destination fields of ``action`` (given as constants or columns).

    >>> [f.name for f in destinations("transactions")]
    ['directory_id', 'mailing_list_id']
    """
    return tuple(f for f in fields_for(action) if f.destination)


def field_names(action: str) -> tuple[str, ...]:
    """The snake_case field names of ``action``."""
    return tuple(f.name for f in fields_for(action))


def field(action: str, name: str) -> Field:
    """The field ``name`` of ``action``; ``ConfigError`` listing the valid names if unknown."""
    for f in fields_for(action):
        if f.name == name:
            return f
    valid = ", ".join(field_names(action))
    hint = ""
    for f in fields_for(action):
        if f.alias == name and f.alias != f.name:
            hint = f" (did you mean {f.name!r}? mapping keys are snake_case)"
    raise ConfigError(f"{name!r} is not a field of {action}{hint}; valid fields are: {valid}")


def diagnostic(rule: str) -> str:
    """The column in which normalisation reports failures of ``rule`` (``_`` + rule)."""
    return "_" + rule


def diagnostic_rules(f: Field) -> tuple[str, ...]:
    """The rules whose failures normalising ``f`` reports in diagnostic columns."""
    if f.kind == "bool":
        return (f"{f.name}_not_boolean",)
    if f.kind == "date":
        return (f"{f.name}_unparseable",)
    if f.kind == "object":
        flat = f.name in FLAT_OBJECTS
        rules = (
            ("not_object", "key_too_long", "value_too_long") if flat else ("not_object", "not_json")
        )
        return tuple(f"{f.name}_{r}" for r in (*rules, "unsupported_type"))
    return ()


def dtype_error(name: str, dtype: object, wants: str) -> ConfigError:
    """The error for a column whose dtype cannot hold field ``name`` at all."""
    return ConfigError(
        f"field {name!r} needs {wants}, but its column has dtype {dtype}; "
        "map it to another column or cast the column first"
    )
