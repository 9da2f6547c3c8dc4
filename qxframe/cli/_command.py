"""How a subcommand's parser is built: its ``--help`` wraps the description and ends with
examples (:func:`command`); :data:`ENVIRONMENT`, the sentence every command that talks to
Qualtrics ends its description with.
"""

from __future__ import annotations

import argparse
import textwrap
from typing import Any

ENVIRONMENT = (
    "The token and datacenter (or base URL) come from QUALTRICS_API_TOKEN (or an OAuth "
    "client: QUALTRICS_CLIENT_ID and QUALTRICS_CLIENT_SECRET) and QUALTRICS_DATACENTER (or "
    "QUALTRICS_BASE_URL)."
)


def command(
    subparsers: Any, name: str, *, help: str, description: str, examples: list[str]
) -> argparse.ArgumentParser:
    """A sub-parser whose ``--help`` wraps ``description`` and ends with ``examples``."""
    shown = "\n".join(f"  {line}" for line in examples)
    return subparsers.add_parser(
        name,
        help=help,
        description="\n\n".join(textwrap.fill(part, 88) for part in description.split("\n\n")),
        epilog=f"Examples:\n{shown}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
